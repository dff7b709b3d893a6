package seccomp

import (
	"encoding/binary"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
	"runtime"
)

// run evaluates prog on a seccomp_data for call nr with args, as the
// kernel would (the VM reads big-endian words, so the test lays out each
// 32-bit word so that the VM sees the value the kernel would).
func run(t *testing.T, prog []unix.SockFilter, auditArch uint32, nr uint32, args ...uint64) uint32 {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(prog))
	for i, f := range prog {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], auditArch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[16+8*i+4:], uint32(a>>32))
	}
	out, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

// testTable is a table with a lookup of one number per name, for tests.
type testTable struct {
	*table
	ID           uint32
	SyscallNames map[string]int
}

func asTest(t *table) testTable {
	names := map[string]int{}
	for _, c := range t.calls {
		if _, ok := names[c.name]; !ok {
			names[c.name] = c.nr
		}
	}
	return testTable{t, t.auditArch, names}
}

func native(t *testing.T) testTable {
	n, _, ok := tablesHere()
	if !ok {
		t.Skipf("no syscall table for %s", runtime.GOARCH)
	}
	return asTest(n)
}

func errnoRet(e uint) *uint { return &e }

func TestCompileNoMkdir(t *testing.T) {
	info := native(t)
	// The seeds' profile: allow everything but mkdir.
	prog, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "no_such_call"}, Action: specs.ActErrno}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := uint32(info.ID)
	if got := run(t, prog, id, uint32(info.SyscallNames["mkdir"])); got != retErrno|uint32(unix.EPERM) {
		t.Errorf("mkdir: %#x, want ERRNO(EPERM)", got)
	}
	if got := run(t, prog, id, uint32(info.SyscallNames["mkdirat"])); got != retAllow {
		t.Errorf("mkdirat: %#x, want ALLOW (the profile names mkdir only)", got)
	}
	if got := run(t, prog, 0x40000003, 39); got != retKillProcess {
		t.Errorf("another architecture: %#x, want KILL_PROCESS", got)
	}
	if runtime.GOARCH == "amd64" {
		if got := run(t, prog, id, 0x40000000|83); got != retKillProcess {
			t.Errorf("x32 call: %#x, want KILL_PROCESS", got)
		}
	}
}

func TestCompileActionsAndArgs(t *testing.T) {
	info := native(t)
	nr := func(n string) uint32 { return uint32(info.SyscallNames[n]) }
	prog, err := Compile(&specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errnoRet(uint(unix.ENOSYS)),
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"keyctl"}, Action: specs.ActErrno, ErrnoRet: errnoRet(uint(unix.EACCES))},
			{Names: []string{"kill"}, Action: specs.ActKillProcess},
			{Names: []string{"getpid"}, Action: specs.ActTrap},
			{Names: []string{"getppid"}, Action: specs.ActLog},
			{Names: []string{"getuid"}, Action: specs.ActTrace},
			// personality(0x0) or personality(0xffffffff) only.
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			// clone without CLONE_NEWUSER (masked equality).
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.CLONE_NEWUSER, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			// socket: any domain but 16 (netlink).
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 16, Op: specs.OpNotEqual}}},
			// setrlimit with resource in [1, 3), comparing 64-bit values.
			{Names: []string{"setrlimit"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1, Op: specs.OpGreaterEqual}, {Index: 0, Value: 3, Op: specs.OpLessThan}}},
			{Names: []string{"lseek"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 1 << 33, Op: specs.OpGreaterThan}}},
			{Names: []string{"dup"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1 << 33, Op: specs.OpLessEqual}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := uint32(info.ID)
	cases := []struct {
		call string
		args []uint64
		want uint32
	}{
		{"read", nil, retAllow},
		{"write", nil, retAllow},
		{"keyctl", nil, retErrno | uint32(unix.EACCES)},
		{"open", nil, retErrno | uint32(unix.ENOSYS)},
		{"kill", nil, retKillProcess},
		{"getpid", nil, retTrap},
		{"getppid", nil, retLog},
		{"getuid", nil, retTrace | uint32(unix.ENOSYS)},
		{"personality", []uint64{0}, retAllow},
		{"personality", []uint64{0xffffffff}, retAllow},
		{"personality", []uint64{8}, retErrno | uint32(unix.ENOSYS)},
		{"personality", []uint64{1 << 32}, retErrno | uint32(unix.ENOSYS)},
		{"clone", []uint64{unix.CLONE_NEWNS | 17}, retAllow},
		{"clone", []uint64{unix.CLONE_NEWUSER | 17}, retErrno | uint32(unix.ENOSYS)},
		{"socket", []uint64{2}, retAllow},
		{"socket", []uint64{16}, retErrno | uint32(unix.ENOSYS)},
		{"socket", []uint64{16 | 1<<32}, retAllow},
		{"setrlimit", []uint64{0}, retErrno | uint32(unix.ENOSYS)},
		{"setrlimit", []uint64{1}, retAllow},
		{"setrlimit", []uint64{2}, retAllow},
		{"setrlimit", []uint64{3}, retErrno | uint32(unix.ENOSYS)},
		{"setrlimit", []uint64{1 << 32}, retErrno | uint32(unix.ENOSYS)},
		{"lseek", []uint64{0, 1 << 33}, retErrno | uint32(unix.ENOSYS)},
		{"lseek", []uint64{0, 1<<33 + 1}, retAllow},
		{"lseek", []uint64{0, 1 << 34}, retAllow},
		{"lseek", []uint64{0, 5}, retErrno | uint32(unix.ENOSYS)},
		{"dup", []uint64{1 << 33}, retAllow},
		{"dup", []uint64{5}, retAllow},
		{"dup", []uint64{1<<33 + 1}, retErrno | uint32(unix.ENOSYS)},
	}
	for _, c := range cases {
		if got := run(t, prog, id, nr(c.call), c.args...); got != c.want {
			t.Errorf("%s%v: %#x, want %#x", c.call, c.args, got, c.want)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	for _, s := range []*specs.LinuxSeccomp{
		{DefaultAction: "SCMP_ACT_BOGUS"},
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}},
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_BOGUS"}}}}},
	} {
		if _, err := Compile(s); err == nil {
			t.Errorf("Compile(%+v): no error", s)
		}
	}
}

// On x86-64 a profile that lists i386 and x32 filters their calls too,
// with their own syscall numbers.
func TestCompileCompatArches(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("i386 and x32 are the compatible architectures of x86-64 only")
	}
	prog, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: specs.ActErrno},
			{Names: []string{"personality"}, Action: specs.ActKillProcess, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	eperm := retErrno | uint32(unix.EPERM)
	X86_64, I386, X32, AARCH64 := asTest(&tableX86_64), asTest(&tableI386), asTest(&tableX32), asTest(&tableAARCH64)
	x86, i386, x32 := X86_64.ID, I386.ID, X32.ID
	cases := []struct {
		name      string
		auditArch uint32
		nr        uint32
		args      []uint64
		want      uint32
	}{
		{"x86-64 mkdir", x86, uint32(X86_64.SyscallNames["mkdir"]), nil, eperm},
		{"x86-64 rmdir", x86, uint32(X86_64.SyscallNames["rmdir"]), nil, retAllow},
		{"i386 mkdir", i386, uint32(I386.SyscallNames["mkdir"]), nil, eperm},
		{"i386 x86-64's mkdir number", i386, uint32(X86_64.SyscallNames["mkdir"]), nil, retAllow},
		{"i386 personality(8)", i386, uint32(I386.SyscallNames["personality"]), []uint64{8}, retKillProcess},
		{"x32 mkdir", x32, x32Bit | uint32(X32.SyscallNames["mkdir"]), nil, eperm},
		{"x32 rmdir", x32, x32Bit | uint32(X32.SyscallNames["rmdir"]), nil, retAllow},
		{"arm64 (not runnable here)", AARCH64.ID, 34, nil, retKillProcess},
	}
	for _, c := range cases {
		if got := run(t, prog, c.auditArch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	// Without x32 in the profile its calls are killed.
	prog, err = Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64}})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, prog, x86, x32Bit|2); got != retKillProcess {
		t.Errorf("x32 call without x32 in the profile: %#x", got)
	}
}

// intervals and the search built on them give every syscall number its
// action, checked against the map for many random sets of rules.
func TestIntervalsSearch(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const def = retErrno | 1
	rets := []uint32{retAllow, retLog, retErrno | 38, def}
	for round := 0; round < 200; round++ {
		actions := map[uint32]uint32{}
		for i := 0; i < r.Intn(60); i++ {
			actions[uint32(r.Intn(100))] = rets[r.Intn(len(rets))]
		}
		var p program
		p.add(bpf.LoadAbsolute{Off: offNr, Size: 4})
		p.search(intervals(actions, def))
		prog, err := p.assemble()
		if err != nil {
			t.Fatal(err)
		}
		for nr := uint32(0); nr < 110; nr++ {
			want, ok := actions[nr]
			if !ok {
				want = def
			}
			if got := run(t, prog, 0, nr); got != want {
				t.Fatalf("round %d: nr %d got %#x, want %#x (actions %v)", round, nr, got, want, actions)
			}
		}
	}
}

// A name with two numbers (x32's compatibility entries) is filtered at both.
func TestCompileEveryNumberOfAName(t *testing.T) {
	var name string
	var nrs []int
	for _, c := range tableX32.calls {
		if n := tableX32.numbers(c.name); len(n) > 1 {
			name, nrs = c.name, n
			break
		}
	}
	if name == "" {
		t.Fatal("no x32 syscall with two numbers in the table")
	}
	prog, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{{Names: []string{name}, Action: specs.ActErrno}}})
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOARCH != "amd64" {
		return
	}
	for _, nr := range nrs {
		if got := run(t, prog, tableX32.auditArch, x32Bit|uint32(nr)); got != retErrno|uint32(unix.EPERM) {
			t.Errorf("x32 %s as %d: %#x, want ERRNO", name, nr, got)
		}
	}
}

func TestCache(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
	want, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // compiled, then read back
		got, err := c.Compile(s)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("round %d: %v, equal %v", i, err, slices.Equal(got, want))
		}
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Errorf("cache holds %d files, want 1", len(entries))
	}
	// Any change of the configuration is another key.
	other := *s
	other.Syscalls = []specs.LinuxSyscall{{Names: []string{"mkdirat"}, Action: specs.ActErrno}}
	e := uint(5)
	errnoChanged := *s
	errnoChanged.Syscalls = []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: &e}}
	argsChanged := *s
	argsChanged.Syscalls = []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 2, Op: specs.OpEqualTo}}}}
	keys := map[string]bool{Key(s): true}
	for _, o := range []*specs.LinuxSeccomp{&other, &errnoChanged, &argsChanged, {DefaultAction: specs.ActLog}} {
		k := Key(o)
		if keys[k] {
			t.Errorf("two configurations share key %s", k)
		}
		keys[k] = true
	}
	// A damaged cache file is compiled again.
	os.WriteFile(filepath.Join(c.Dir, entries[0].Name()), []byte("bad"), 0o600)
	if got, err := c.Compile(s); err != nil || !slices.Equal(got, want) {
		t.Errorf("damaged cache: %v", err)
	}
}
