package container

import (
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestRlimitPlan(t *testing.T) {
	cur := map[int]unix.Rlimit{
		unix.RLIMIT_NOFILE: {Cur: 1024, Max: 4096},
		unix.RLIMIT_CORE:   {Cur: 0, Max: 100},
	}
	current := func(r int) (unix.Rlimit, error) { return cur[r], nil }
	before, restore, after, err := rlimitPlan([]specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}, // hard lowered: on the child, after the fork
		{Type: "RLIMIT_CORE", Soft: 50, Hard: 100},    // hard kept: before the fork
	}, current)
	if err != nil {
		t.Fatal(err)
	}
	want := []limitChange{
		{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 100, Max: 4096}},
		{"RLIMIT_CORE", unix.RLIMIT_CORE, unix.Rlimit{Cur: 50, Max: 100}},
	}
	if !equalChanges(before, want) {
		t.Errorf("before = %v, want %v", before, want)
	}
	want = []limitChange{
		{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, cur[unix.RLIMIT_NOFILE]},
		{"RLIMIT_CORE", unix.RLIMIT_CORE, cur[unix.RLIMIT_CORE]},
	}
	if !equalChanges(restore, want) {
		t.Errorf("restore = %v, want %v", restore, want)
	}
	want = []limitChange{{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 100, Max: 200}}}
	if !equalChanges(after, want) {
		t.Errorf("after = %v, want %v", after, want)
	}
	for _, bad := range []specs.POSIXRlimit{{Type: "RLIMIT_NOPE"}, {Type: "RLIMIT_CORE", Soft: 2, Hard: 1}} {
		if _, _, _, err := rlimitPlan([]specs.POSIXRlimit{bad}, current); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func equalChanges(a, b []limitChange) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestExitStatus(t *testing.T) {
	// A wait status: exit code in bits 8-15, or the signal in bits 0-6.
	if got := exitStatus(syscall.WaitStatus(3 << 8)); got != 3 {
		t.Errorf("exit 3: %d", got)
	}
	if got := exitStatus(syscall.WaitStatus(syscall.SIGKILL)); got != 137 {
		t.Errorf("SIGKILL: %d", got)
	}
}

func TestExecProcessDefaults(t *testing.T) {
	c := &specs.Process{Env: []string{"PATH=/bin"}, Cwd: "/work", NoNewPrivileges: true,
		Capabilities: &specs.LinuxCapabilities{Effective: []string{"CAP_CHOWN"}}}
	a := &agent{spec: &specs.Spec{Process: c}}
	p, err := a.process(execRequest{Process: &specs.Process{Args: []string{"sh"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Env[0] != "PATH=/bin" || p.Cwd != "/work" || !p.NoNewPrivileges || p.Capabilities != c.Capabilities {
		t.Errorf("defaults not the container's: %+v", p)
	}
	p, err = a.process(execRequest{Process: &specs.Process{Args: []string{"sh"}, Env: []string{}, Cwd: "/"}, Privileged: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Env) != 0 || p.Cwd != "/" || p.Capabilities != nil {
		t.Errorf("privileged, own env and cwd: %+v", p)
	}
	for _, bad := range []*specs.Process{nil, {}, {Args: []string{""}}, {Args: []string{"sh"}, Cwd: "rel"}} {
		if _, err := a.process(execRequest{Process: bad}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
