package oci

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/userns"
)

func TestExecProcess(t *testing.T) {
	s := &specs.Spec{Process: &specs.Process{
		Args: []string{"sh"}, Env: []string{"PATH=/bin"}, Cwd: "/w",
		User:         specs.User{UID: 5, GID: 6},
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}},
	}}
	p, err := execProcess(s, ExecOptions{Args: []string{"id"}, Env: []string{"X=1"}, User: "7:8", Caps: []string{"net_raw"}, Terminal: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Args, []string{"id"}) || !slices.Equal(p.Env, []string{"PATH=/bin", "X=1"}) || p.Cwd != "/w" ||
		p.User.UID != 7 || p.User.GID != 8 || !p.Terminal || !slices.Equal(p.Capabilities.Bounding, []string{"CAP_KILL", "CAP_NET_RAW"}) {
		t.Errorf("process %+v, caps %+v", p, p.Capabilities)
	}
	// The container's own process is not changed.
	if !slices.Equal(s.Process.Env, []string{"PATH=/bin"}) || len(s.Process.Capabilities.Bounding) != 1 {
		t.Errorf("the container's process changed: %+v", s.Process)
	}
	if p, err := execProcess(s, ExecOptions{Args: []string{"id"}, User: "9"}); err != nil || p.User.UID != 9 || p.User.GID != 6 {
		t.Errorf("--user 9: %+v %v", p, err)
	}
	for _, o := range []ExecOptions{{}, {Args: []string{"id"}, User: "x"}, {Args: []string{"id"}, User: "1:y"}} {
		if _, err := execProcess(s, o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
	file := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(file, []byte(`{"args":["true"],"cwd":"/"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := execProcess(s, ExecOptions{ProcessFile: file}); err != nil || !slices.Equal(p.Args, []string{"true"}) || p.Env != nil {
		t.Errorf("--process: %+v %v", p, err)
	}
}

func TestSpecMapping(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes any mapping itself: the helpers are for users")
	}
	h := &userns.Host{UID: 1000, GID: 1000, NewUIDMap: "/usr/bin/newuidmap", NewGIDMap: "/usr/bin/newgidmap"}
	own := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	wide := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}
	spec := func(u, g []specs.LinuxIDMapping) *specs.Spec {
		return &specs.Spec{Linux: &specs.Linux{UIDMappings: u, GIDMappings: g}}
	}
	if m, err := specMapping(spec(own, own), h); err != nil || m.Helpers {
		t.Errorf("own ids: %+v %v", m, err)
	}
	if m, err := specMapping(spec(wide, own), h); err != nil || !m.Helpers {
		t.Errorf("subordinate ids: %+v %v", m, err)
	}
	if _, err := specMapping(spec(nil, own), h); err == nil {
		t.Error("no uid mappings: accepted")
	}
	noHelpers := *h
	noHelpers.NewUIDMap = ""
	if _, err := specMapping(spec(wide, wide), &noHelpers); err == nil {
		t.Error("subordinate ids without newuidmap: accepted")
	}
}
