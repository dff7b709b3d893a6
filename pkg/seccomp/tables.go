package seccomp

import (
	"runtime"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A table lists the syscalls of one architecture (see zsyscalls.go, made
// by hack/gen-syscalls). Static data: no start-up cost to a process that
// never compiles a filter.
type table struct {
	name      string
	auditArch uint32
	calls     []call // sorted by name, then number
}

type call struct {
	name string
	nr   int
}

// numbers returns the numbers of syscall name (some names have two, such
// as x32's compatibility entries).
func (t *table) numbers(name string) []int {
	i := sort.Search(len(t.calls), func(i int) bool { return t.calls[i].name >= name })
	var out []int
	for ; i < len(t.calls) && t.calls[i].name == name; i++ {
		out = append(out, t.calls[i].nr)
	}
	return out
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
