package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeTree makes a directory tree shaped like a cgroup v2 hierarchy: the
// cgroups in delegated have the control files (so they are writable), the
// others have none.
func fakeTree(t *testing.T, all, delegated []string, controllers string) string {
	t.Helper()
	mount := t.TempDir()
	for _, c := range all {
		if err := os.MkdirAll(filepath.Join(mount, c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range delegated {
		for _, f := range []string{"cgroup.procs", "cgroup.subtree_control"} {
			content := ""
			if f == "cgroup.subtree_control" {
				content = controllers
			}
			if err := os.WriteFile(filepath.Join(mount, c, f), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return mount
}

const (
	userSlice = "user.slice/user-1000.slice"
	service   = userSlice + "/user@1000.service"
	scope     = service + "/app.slice/term.scope"
)

func TestFind(t *testing.T) {
	mount := fakeTree(t, []string{scope}, []string{service, service + "/app.slice", scope}, "cpu memory pids")
	d := Find(mount, "12:pids:/ignored\n0::/"+scope+"\n")
	if d.Dir != filepath.Join(mount, service) {
		t.Errorf("delegated dir %q, want the service", d.Dir)
	}
	if !d.Available("pids", "memory", "cpu") || d.Available("io") {
		t.Errorf("controllers %v", d.Controllers)
	}
	if r := d.Reason("io"); !strings.Contains(r, "io controller") {
		t.Errorf("Reason(io) = %q", r)
	}
	if d := Find(mount, "0::/"+userSlice+"\n"); d.Dir != "" || d.Why == "" || d.Reason("pids") != d.Why {
		t.Errorf("not delegated: %+v", d)
	}
	if d := Find(mount, "1:name=systemd:/\n"); d.Dir != "" || !strings.Contains(d.Why, "no cgroup v2") {
		t.Errorf("v1 only: %+v", d)
	}
}

func TestCreate(t *testing.T) {
	mount := fakeTree(t, []string{service}, []string{service}, "cpu memory pids")
	d := Find(mount, "0::/"+service)
	pids, mem, quota, period := int64(64), int64(512<<20), int64(50000), uint64(100000)
	r := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}, Memory: &specs.LinuxMemory{Limit: &mem}, CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}}
	dir, err := Create(d, "abc", r)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(mount, service, "rless.slice", "abc") {
		t.Errorf("dir %s", dir)
	}
	want := map[string]string{
		"../cgroup.subtree_control": "+pids +memory +cpu",
		"pids.max":                  "64",
		"memory.max":                "536870912",
		"cpu.max":                   "50000 100000",
	}
	for f, v := range want {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || string(got) != v {
			t.Errorf("%s = %q (%v), want %q", f, got, err, v)
		}
	}
	// A second container shares rless.slice.
	if _, err := Create(d, "def", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}); err != nil {
		t.Fatal(err)
	}
	// A controller the delegation lacks is refused.
	d.Controllers = []string{"pids"}
	if _, err := Create(d, "ghi", r); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Errorf("missing controller: %v", err)
	}
	if err := Remove(filepath.Join(mount, "empty-missing")); err != nil {
		t.Errorf("removing a missing cgroup: %v", err)
	}
}

func TestControllers(t *testing.T) {
	q := int64(1)
	if c := Controllers(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &q}}); strings.Join(c, ",") != "cpu" {
		t.Errorf("%v", c)
	}
	if c := Controllers(&specs.LinuxResources{CPU: &specs.LinuxCPU{}}); len(c) != 0 {
		t.Errorf("no quota: %v", c)
	}
	if Controllers(nil) != nil {
		t.Error("nil resources")
	}
}
