package container

import (
	"bytes"
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/stage"
	"github.com/rless/rless/pkg/userns"
)

// TestSpareKey: a spare stands in only for options that do not name the
// container, and two options differing in what the init is started with
// have different keys.
func TestSpareKey(t *testing.T) {
	own := uint32(os.Getuid())
	base := func() stage.SpawnOptions {
		return stage.SpawnOptions{
			Stage: InitStage, Path: "/x/rless-init", Cloneflags: 0x6c020000, Setsid: true,
			Env:  []string{"GOMAXPROCS=1"},
			Host: &userns.Host{NewUIDMap: "/usr/bin/newuidmap", NewGIDMap: "/usr/bin/newgidmap"},
			Mapping: userns.Mapping{
				UIDs:    []specs.LinuxIDMapping{{ContainerID: 0, HostID: own, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
				GIDs:    []specs.LinuxIDMapping{{ContainerID: 0, HostID: own, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
				Helpers: true,
			},
		}
	}
	key, ok := spareKey(base())
	if !ok {
		t.Fatal("default options: no spare")
	}
	// Standard streams are given on claim: files of any kind share a key.
	withFiles := base()
	withFiles.Stdin, withFiles.Stdout, withFiles.Stderr = os.Stdin, os.Stdout, os.Stderr
	if k, ok := spareKey(withFiles); !ok || k != key {
		t.Errorf("options with files as streams: key %q, %t; want the default's", k, ok)
	}
	no := map[string]func(*stage.SpawnOptions){
		"a cgroup":    func(o *stage.SpawnOptions) { o.Cgroup = "/sys/fs/cgroup/x" },
		"extra files": func(o *stage.SpawnOptions) { o.ExtraFiles = []*os.File{os.Stdin} },
		"joined namespaces": func(o *stage.SpawnOptions) {
			o.Join = []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}}
		},
		"no user namespace": func(o *stage.SpawnOptions) { o.NoUserns = true },
		"detached":          func(o *stage.SpawnOptions) { o.Detach = true },
		"a writer":          func(o *stage.SpawnOptions) { o.Stdout = &bytes.Buffer{} },
		"a nested layout": func(o *stage.SpawnOptions) {
			o.Mapping.UIDs = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		},
	}
	for name, change := range no {
		o := base()
		change(&o)
		if _, ok := spareKey(o); ok {
			t.Errorf("options with %s: a spare would serve them", name)
		}
	}
	other := map[string]func(*stage.SpawnOptions){
		"namespaces":  func(o *stage.SpawnOptions) { o.Cloneflags = 0x40000000 },
		"environment": func(o *stage.SpawnOptions) { o.Env = append(o.Env, "_RLESS_LOG=debug") },
		"program":     func(o *stage.SpawnOptions) { o.Path = "/y/rless-init" },
		"mapping":     func(o *stage.SpawnOptions) { o.Mapping.GIDs[1].Size = 1000 },
	}
	for name, change := range other {
		o := base()
		change(&o)
		if k, ok := spareKey(o); !ok || k == key {
			t.Errorf("options with other %s: key %q, %t; want another key", name, k, ok)
		}
	}
}
