package seccomp

import (
	"runtime"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A table lists the syscalls of one architecture (see zsyscalls.go, made
// by hack/gen-syscalls). Static data: no start-up cost to a process that
// never compiles a filter.
type table struct {
	name      string
	auditArch uint32
	calls     []call // sorted by name, then number

	index     map[string][]int // name → numbers, made on first use
	indexOnce sync.Once
}

type call struct {
	name string
	nr   int
}

// numbers returns the numbers of syscall name (some names have two, such
// as x32's compatibility entries).
func (t *table) numbers(name string) []int {
	t.indexOnce.Do(func() {
		t.index = make(map[string][]int, len(t.calls))
		for _, c := range t.calls {
			t.index[c.name] = append(t.index[c.name], c.nr)
		}
	})
	return t.index[name]
}

// nativeTables are, for the architecture rless runs on, its own table and
// those of the profile architectures whose programs it can also run.
var nativeTables = map[string]struct {
	native *table
	compat map[specs.Arch]*table
}{
	"amd64": {&tableX86_64, map[specs.Arch]*table{specs.ArchX86_64: &tableX86_64, specs.ArchX86: &tableI386, specs.ArchX32: &tableX32}},
	"arm64": {&tableAARCH64, map[specs.Arch]*table{specs.ArchAARCH64: &tableAARCH64, specs.ArchARM: &tableARM}},
}

// tablesHere returns the tables of this machine, or false where rless has
// none.
func tablesHere() (native *table, compat map[specs.Arch]*table, ok bool) {
	t, ok := nativeTables[runtime.GOARCH]
	return t.native, t.compat, ok
}
