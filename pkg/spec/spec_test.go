package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/userns"
)

func idm(container, host, size uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: container, HostID: host, Size: size}
}

// podmanMapping is the helper layout of a user with a 65536-id range.
var podmanMapping = userns.Mapping{
	UIDs:    []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)},
	GIDs:    []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)},
	Helpers: true,
}

// singleMapping maps only the caller.
var singleMapping = userns.Mapping{
	UIDs: []specs.LinuxIDMapping{idm(0, 1000, 1)},
	GIDs: []specs.LinuxIDMapping{idm(0, 1000, 1)},
}

func baseOptions() Options {
	return Options{
		Rootfs:   "/var/lib/rless/c1/rootfs",
		Args:     []string{"/bin/sh", "-c", "echo hi"},
		Hostname: "box",
		Mapping:  podmanMapping,
	}
}

func nsTypes(s *specs.Spec) []specs.LinuxNamespaceType {
	var out []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		out = append(out, ns.Type)
	}
	return out
}

func TestNewNamespaces(t *testing.T) {
	base := []specs.LinuxNamespaceType{specs.UserNamespace, specs.MountNamespace, specs.PIDNamespace, specs.UTSNamespace, specs.IPCNamespace, specs.CgroupNamespace}
	tests := []struct {
		network string
		want    []specs.LinuxNamespaceType
	}{
		{"", append(slices.Clone(base), specs.NetworkNamespace)},
		{NetworkNone, append(slices.Clone(base), specs.NetworkNamespace)},
		{NetworkHost, base},
	}
	for _, tt := range tests {
		t.Run("network="+tt.network, func(t *testing.T) {
			o := baseOptions()
			o.Network = tt.network
			s, err := New(o)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := nsTypes(s); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("namespaces = %v, want %v", got, tt.want)
			}
			for _, ns := range s.Linux.Namespaces {
				if ns.Path != "" {
					t.Errorf("namespace %s has path %q, want a new one", ns.Type, ns.Path)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
		errHas []string
	}{
		{"nil args", func(o *Options) { o.Args = nil }, []string{"no command"}},
		{"empty args", func(o *Options) { o.Args = []string{} }, []string{"no command"}},
		{"unknown network", func(o *Options) { o.Network = "bridge" }, []string{`"bridge"`, NetworkNone, NetworkHost}},
		{"network mode is case-sensitive", func(o *Options) { o.Network = "Host" }, []string{`"Host"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			tt.mutate(&o)
			s, err := New(o)
			if err == nil {
				t.Fatalf("New = %v, nil; want an error", s)
			}
			if s != nil {
				t.Errorf("New returned a spec with error %v", err)
			}
			for _, sub := range tt.errHas {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not mention %q", err, sub)
				}
			}
		})
	}
}

func TestNewProcessAndRoot(t *testing.T) {
	o := baseOptions()
	o.ReadOnly = true
	o.Cwd = "/work"
	o.Terminal = true
	o.User = specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{10, 20}}
	o.Env = []string{"FOO=bar"}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if s.Root == nil || s.Root.Path != o.Rootfs || !s.Root.Readonly {
		t.Errorf("Root = %+v, want path %s read-only", s.Root, o.Rootfs)
	}
	if s.Hostname != "box" {
		t.Errorf("Hostname = %q, want box", s.Hostname)
	}
	p := s.Process
	if p == nil {
		t.Fatal("no Process")
	}
	if !reflect.DeepEqual(p.Args, o.Args) {
		t.Errorf("Args = %q, want %q", p.Args, o.Args)
	}
	if p.Cwd != "/work" {
		t.Errorf("Cwd = %q, want /work", p.Cwd)
	}
	if !p.Terminal {
		t.Error("Terminal = false, want true")
	}
	if p.User.UID != 1000 || p.User.GID != 100 || !reflect.DeepEqual(p.User.AdditionalGids, []uint32{10, 20}) {
		t.Errorf("User = %+v, want uid 1000 gid 100 groups [10 20]", p.User)
	}
	if want := Env(o); !reflect.DeepEqual(p.Env, want) {
		t.Errorf("Env = %q, want %q", p.Env, want)
	}
	if len(p.Rlimits) != 0 {
		t.Errorf("Rlimits = %v, want none", p.Rlimits)
	}
	if s.Linux.Resources != nil {
		t.Errorf("Linux.Resources = %+v, want nil", s.Linux.Resources)
	}
	if sc := s.Linux.Seccomp; sc == nil || sc.DefaultAction != specs.ActErrno || len(sc.Syscalls) == 0 {
		t.Errorf("Linux.Seccomp = %+v, want the default profile", s.Linux.Seccomp)
	}
}

func TestNewSeccompOptions(t *testing.T) {
	o := baseOptions()
	o.Seccomp = SeccompUnconfined
	if s, err := New(o); err != nil || s.Linux.Seccomp != nil {
		t.Errorf("unconfined: %v, %+v", err, s.Linux.Seccomp)
	}
	f := filepath.Join(t.TempDir(), "no-mkdir.json")
	os.WriteFile(f, []byte(`{ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [ { "name": "mkdir", "action": "SCMP_ACT_ERRNO" } ] }`), 0o644)
	o.Seccomp = f
	s, err := New(o)
	if err != nil || s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActAllow ||
		len(s.Linux.Seccomp.Syscalls) != 1 || s.Linux.Seccomp.Syscalls[0].Names[0] != "mkdir" {
		t.Errorf("no-mkdir profile: %v, %+v", err, s.Linux.Seccomp)
	}
	for _, bad := range []string{filepath.Join(t.TempDir(), "missing.json"), "/etc/hostname"} {
		o.Seccomp = bad
		if _, err := New(o); err == nil {
			t.Errorf("profile %s: no error", bad)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	o := Options{Args: []string{"true"}, Rootfs: "/r"}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if s.Process.Cwd != "/" {
		t.Errorf("Cwd = %q, want /", s.Process.Cwd)
	}
	if s.Root.Readonly {
		t.Error("Root.Readonly = true, want false")
	}
	if s.Process.Terminal {
		t.Error("Terminal = true, want false")
	}
	if s.Process.User.UID != 0 || s.Process.User.GID != 0 || len(s.Process.User.AdditionalGids) != 0 {
		t.Errorf("User = %+v, want root with no groups", s.Process.User)
	}
	if s.Hostname != "" {
		t.Errorf("Hostname = %q, want empty", s.Hostname)
	}
	if len(s.Linux.UIDMappings) != 0 || len(s.Linux.GIDMappings) != 0 {
		t.Errorf("mappings = %v / %v, want none from an empty Mapping", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	for _, e := range s.Process.Env {
		if strings.HasPrefix(e, "HOSTNAME=") {
			t.Errorf("Env has %q without a Hostname", e)
		}
	}
}

func TestNewCapabilities(t *testing.T) {
	s, err := New(baseOptions())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := s.Process.Capabilities
	if c == nil {
		t.Fatal("no capabilities")
	}
	for name, set := range map[string][]string{"bounding": c.Bounding, "permitted": c.Permitted, "effective": c.Effective} {
		if !reflect.DeepEqual(set, DefaultCapabilities) {
			t.Errorf("%s = %v, want %v", name, set, DefaultCapabilities)
		}
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("inheritable %v, ambient %v; want both empty", c.Inheritable, c.Ambient)
	}
}

func TestNewMappings(t *testing.T) {
	for name, m := range map[string]userns.Mapping{"podman": podmanMapping, "single": singleMapping} {
		t.Run(name, func(t *testing.T) {
			o := baseOptions()
			o.Mapping = m
			s, err := New(o)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if !reflect.DeepEqual(s.Linux.UIDMappings, m.UIDs) {
				t.Errorf("UIDMappings = %v, want %v", s.Linux.UIDMappings, m.UIDs)
			}
			if !reflect.DeepEqual(s.Linux.GIDMappings, m.GIDs) {
				t.Errorf("GIDMappings = %v, want %v", s.Linux.GIDMappings, m.GIDs)
			}
		})
	}
	// Distinct uid and gid layouts are not mixed up.
	o := baseOptions()
	o.Mapping = userns.Mapping{
		UIDs: []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 10)},
		GIDs: []specs.LinuxIDMapping{idm(0, 2000, 1), idm(1, 200000, 20), idm(21, 300000, 5)},
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if !reflect.DeepEqual(s.Linux.UIDMappings, o.Mapping.UIDs) || !reflect.DeepEqual(s.Linux.GIDMappings, o.Mapping.GIDs) {
		t.Errorf("mappings = %v / %v, want %v / %v", s.Linux.UIDMappings, s.Linux.GIDMappings, o.Mapping.UIDs, o.Mapping.GIDs)
	}
}

func TestMounts(t *testing.T) {
	ptsBase := []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}
	tests := []struct {
		name    string
		mapping userns.Mapping
		ptsOpts []string
	}{
		{"gid 5 mapped", podmanMapping, append(slices.Clone(ptsBase), "gid=5")},
		{"single mapping: gid 5 unmapped", singleMapping, ptsBase},
		{"no mapping", userns.Mapping{}, ptsBase},
		{"range ending just below 5", userns.Mapping{GIDs: []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 4)}}, ptsBase},
		{"range ending at 5", userns.Mapping{GIDs: []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 5)}}, append(slices.Clone(ptsBase), "gid=5")},
		{"only uid 5 mapped", userns.Mapping{UIDs: []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)}, GIDs: []specs.LinuxIDMapping{idm(0, 1000, 1)}}, ptsBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			o.Mapping = tt.mapping
			want := []specs.Mount{
				{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
				{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
				{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: tt.ptsOpts},
				{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
				{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
				{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			}
			if got := Mounts(o); !reflect.DeepEqual(got, want) {
				t.Errorf("Mounts = %+v\nwant %+v", got, want)
			}
			s, err := New(o)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if !reflect.DeepEqual(s.Mounts, want) {
				t.Errorf("spec mounts = %+v\nwant %+v", s.Mounts, want)
			}
		})
	}
}

func TestDevices(t *testing.T) {
	type dev struct {
		path         string
		major, minor int64
	}
	want := []dev{
		{"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
		{"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
	}
	check := func(t *testing.T, got []specs.LinuxDevice) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%d devices %+v, want %d", len(got), got, len(want))
		}
		for i, d := range got {
			w := want[i]
			if d.Path != w.path || d.Type != "c" || d.Major != w.major || d.Minor != w.minor {
				t.Errorf("device %d = %s %s %d:%d, want %s c %d:%d", i, d.Path, d.Type, d.Major, d.Minor, w.path, w.major, w.minor)
			}
			if d.FileMode == nil || *d.FileMode != os.FileMode(0o666) {
				t.Errorf("device %s mode %v, want 0666", d.Path, d.FileMode)
			}
			if d.UID != nil || d.GID != nil {
				t.Errorf("device %s has owner %v:%v, want none", d.Path, d.UID, d.GID)
			}
		}
	}
	t.Run("Devices", func(t *testing.T) { check(t, Devices()) })
	t.Run("New", func(t *testing.T) {
		s, err := New(baseOptions())
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		check(t, s.Linux.Devices)
	})
	t.Run("modes are not shared", func(t *testing.T) {
		ds := Devices()
		*ds[0].FileMode = 0o600
		if m := *ds[1].FileMode; m != 0o666 {
			t.Errorf("changing one device's mode changed another's to %v", m)
		}
		if m := *Devices()[0].FileMode; m != 0o666 {
			t.Errorf("changing a returned mode changed the next call's to %v", m)
		}
	})
}

func TestNewInitAnnotation(t *testing.T) {
	for _, init := range []bool{true, false} {
		o := baseOptions()
		o.Init = init
		s, err := New(o)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		want := "false"
		if init {
			want = "true"
		}
		if got, ok := s.Annotations[AnnotationInit]; !ok || got != want {
			t.Errorf("Init %v: annotation %s = %q (present %v), want %q", init, AnnotationInit, got, ok, want)
		}
		if got := InitEnabled(s); got != init {
			t.Errorf("Init %v: InitEnabled = %v", init, got)
		}
	}
}

func TestNewIdle(t *testing.T) {
	o := baseOptions()
	o.Init, o.Idle = true, true
	if _, err := New(o); err == nil {
		t.Errorf("New of an idle container with a command %q: no error", o.Args)
	}
	o.Args = nil
	s, err := New(o)
	if err != nil {
		t.Fatalf("New of an idle container: %v", err)
	}
	if !Idle(s) || !InitEnabled(s) || len(s.Process.Args) != 0 {
		t.Errorf("idle spec: Idle %v, InitEnabled %v, args %q", Idle(s), InitEnabled(s), s.Process.Args)
	}
	o.Idle = false
	if _, err := New(o); err == nil {
		t.Error("New without a command: no error")
	}
}

func TestInitEnabled(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        bool
	}{
		{"nil annotations", nil, false},
		{"absent", map[string]string{"other": "true"}, false},
		{"true", map[string]string{AnnotationInit: "true"}, true},
		{"false", map[string]string{AnnotationInit: "false"}, false},
		{"idle", map[string]string{AnnotationInit: "idle"}, true},
		{"empty", map[string]string{AnnotationInit: ""}, false},
		{"not exactly true", map[string]string{AnnotationInit: "yes"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InitEnabled(&specs.Spec{Annotations: tt.annotations}); got != tt.want {
				t.Errorf("InitEnabled(%v) = %v, want %v", tt.annotations, got, tt.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	path := "PATH=" + DefaultPath
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{
			name: "root defaults",
			o:    Options{},
			want: []string{path, "container=rless", "HOME=/root", "TERM=xterm"},
		},
		{
			name: "non-root home is /",
			o:    Options{User: specs.User{UID: 1000}},
			want: []string{path, "container=rless", "HOME=/", "TERM=xterm"},
		},
		{
			name: "gid 0 does not make root's home",
			o:    Options{User: specs.User{UID: 1000, GID: 0}},
			want: []string{path, "container=rless", "HOME=/", "TERM=xterm"},
		},
		{
			name: "Home given for root",
			o:    Options{Home: "/home/admin"},
			want: []string{path, "container=rless", "HOME=/home/admin", "TERM=xterm"},
		},
		{
			name: "Home given for non-root",
			o:    Options{User: specs.User{UID: 1000}, Home: "/home/alice"},
			want: []string{path, "container=rless", "HOME=/home/alice", "TERM=xterm"},
		},
		{
			name: "hostname",
			o:    Options{Hostname: "box"},
			want: []string{path, "container=rless", "HOME=/root", "HOSTNAME=box", "TERM=xterm"},
		},
		{
			name: "terminal",
			o:    Options{Terminal: true},
			want: []string{path, "container=rless", "HOME=/root", "TERM=xterm"},
		},
		{
			name: "hostname and terminal",
			o:    Options{Hostname: "box", Terminal: true},
			want: []string{path, "container=rless", "HOME=/root", "HOSTNAME=box", "TERM=xterm"},
		},
		{
			name: "user values appended",
			o:    Options{Env: []string{"FOO=bar", "EMPTY="}},
			want: []string{path, "container=rless", "HOME=/root", "TERM=xterm", "FOO=bar", "EMPTY="},
		},
		{
			name: "user value overrides a default and moves to its place",
			o:    Options{Env: []string{"PATH=/bin", "FOO=bar"}},
			want: []string{"container=rless", "HOME=/root", "TERM=xterm", "PATH=/bin", "FOO=bar"},
		},
		{
			name: "HOME from Env wins over Home",
			o:    Options{Home: "/home/alice", Env: []string{"HOME=/elsewhere"}},
			want: []string{path, "container=rless", "TERM=xterm", "HOME=/elsewhere"},
		},
		{
			name: "TERM and HOSTNAME overridden",
			o:    Options{Hostname: "box", Terminal: true, Env: []string{"TERM=vt100", "HOSTNAME=other"}},
			want: []string{path, "container=rless", "HOME=/root", "TERM=vt100", "HOSTNAME=other"},
		},
		{
			name: "later user value wins and keeps the later position",
			o:    Options{Env: []string{"A=1", "B=2", "A=3"}},
			want: []string{path, "container=rless", "HOME=/root", "TERM=xterm", "B=2", "A=3"},
		},
		{
			name: "key prefix is not a match",
			o:    Options{Env: []string{"PATHX=1", "HOMEDIR=/x", "container_id=5"}},
			want: []string{path, "container=rless", "HOME=/root", "TERM=xterm", "PATHX=1", "HOMEDIR=/x", "container_id=5"},
		},
		{
			name: "values may hold '='",
			o:    Options{Env: []string{"OPTS=a=b=c", "OPTS=x=y"}},
			want: []string{path, "container=rless", "HOME=/root", "TERM=xterm", "OPTS=x=y"},
		},
		{
			name: "container overridden",
			o:    Options{Env: []string{"container=podman"}},
			want: []string{path, "HOME=/root", "TERM=xterm", "container=podman"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Env(tt.o); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Env = %q\nwant  %q", got, tt.want)
			}
		})
	}
}

func TestEnvDoesNotModifyOptions(t *testing.T) {
	env := []string{"A=1", "PATH=/bin", "A=2"}
	o := Options{Env: slices.Clone(env)}
	_ = Env(o)
	if !reflect.DeepEqual(o.Env, env) {
		t.Errorf("Env modified Options.Env: %q, was %q", o.Env, env)
	}
}

// Entries without "=" are left to the caller to resolve and are ignored.
func TestEnvIgnoresBareKeys(t *testing.T) {
	o := baseOptions()
	o.Env = []string{"FOO", "FOO=1", "BAR=1", "BAR"}
	env := Env(o)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(env, s.Process.Env) {
		t.Errorf("Env %v and spec env %v differ", env, s.Process.Env)
	}
	for _, kv := range env {
		if kv == "FOO" || kv == "BAR" {
			t.Errorf("bare key %q kept: %v", kv, env)
		}
	}
}
