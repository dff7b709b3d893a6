package container

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/cgroups"
	"github.com/rless/rless/pkg/spec"
)

func ptr[T any](v T) *T { return &v }

// TestSpecCheck: checkSpec accepts the specs rless builds and what it
// implements, and refuses, naming the field, what it does not.
func TestSpecCheck(t *testing.T) {
	lsms := map[string]bool{}
	delegated := cgroups.Delegation{Why: "no cgroup v2 here"}
	oldLSM, oldDetect := lsmEnabled, detectCgroups
	lsmEnabled = func(lsm string) bool { return lsms[lsm] }
	detectCgroups = func() cgroups.Delegation { return delegated }
	t.Cleanup(func() { lsmEnabled, detectCgroups = oldLSM, oldDetect })

	withNetwork := func(network string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			n, err := spec.New(spec.Options{Args: []string{"sh"}, Rootfs: "/r", Network: network})
			if err != nil {
				t.Fatal(err)
			}
			s.Linux.Namespaces, s.Linux.Sysctl = n.Linux.Namespaces, n.Linux.Sysctl
		}
	}
	withoutNamespace := func(typ specs.LinuxNamespaceType) func(*specs.Spec) {
		return func(s *specs.Spec) {
			var nss []specs.LinuxNamespace
			for _, ns := range s.Linux.Namespaces {
				if ns.Type != typ {
					nss = append(nss, ns)
				}
			}
			s.Linux.Namespaces = nss
		}
	}
	sysctl := func(kv ...string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{}
			for i := 0; i < len(kv); i += 2 {
				s.Linux.Sysctl[kv[i]] = kv[i+1]
			}
		}
	}
	cases := []struct {
		name   string
		lsm    string // enabled on the host
		cgroup bool   // pids, memory and cpu delegated
		edit   []func(*specs.Spec)
		err    string // "" for accepted
	}{
		{name: "default spec"},
		{name: "host network", edit: []func(*specs.Spec){withNetwork(spec.NetworkHost)}},
		{name: "cgroupsPath is best effort", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.CgroupsPath = "/machine.slice/x" }}},

		{name: "network namespace path", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/x"})
		}}},
		{name: "user namespace path", edit: []func(*specs.Spec){withoutNamespace(specs.UserNamespace), func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/x"})
		}}, err: "joining the user namespace at /x is not supported"},
		{name: "mount namespace path", edit: []func(*specs.Spec){withoutNamespace(specs.MountNamespace), func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/x"})
		}}},
		{name: "time namespace", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}}, err: `linux.namespaces: the "time" namespace`},
		{name: "no mount namespace", edit: []func(*specs.Spec){withoutNamespace(specs.MountNamespace)}, err: "without a mount namespace"},

		//lint:ignore SA1019 the deprecated hook must be refused too
		{name: "hook prestart", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/hook"}}} }}, err: "hooks.prestart (/bin/hook)"},
		{name: "hook createRuntime", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/h"}}} }}, err: "hooks.createRuntime"},
		{name: "hook createContainer", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/h"}}} }}, err: "hooks.createContainer"},
		{name: "hook startContainer", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/h"}}} }}, err: "hooks.startContainer"},
		{name: "hook poststart", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/h"}}} }}, err: "hooks.poststart"},
		{name: "hook poststop", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/h"}}} }}, err: "hooks.poststop"},
		{name: "empty hooks", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Hooks = &specs.Hooks{} }}},

		{name: "sysctl net", edit: []func(*specs.Spec){sysctl("net.ipv4.ip_forward", "1", "net.core.somaxconn", "1024")}},
		{name: "sysctl ipc", edit: []func(*specs.Spec){sysctl("kernel.shmmax", "65536", "kernel.msgmax", "1", "kernel.msgmnb", "1", "kernel.msgmni", "1", "kernel.sem", "1 2 3 4", "kernel.shmall", "1", "kernel.shmmni", "1", "kernel.shm_rmid_forced", "1", "fs.mqueue.msg_max", "10")}},
		{name: "sysctl uts", edit: []func(*specs.Spec){sysctl("kernel.hostname", "h", "kernel.domainname", "d")}},
		{name: "sysctl not namespaced", edit: []func(*specs.Spec){sysctl("kernel.panic", "1")}, err: "linux.sysctl: kernel.panic is not namespaced"},
		{name: "sysctl fs not namespaced", edit: []func(*specs.Spec){sysctl("fs.file-max", "1")}, err: "fs.file-max is not namespaced"},
		{name: "sysctl net, host network", edit: []func(*specs.Spec){withNetwork(spec.NetworkHost), sysctl("net.ipv4.ip_forward", "1")}, err: "net.ipv4.ip_forward belongs to the network namespace, which the container shares with the host"},
		{name: "sysctl ipc, no IPC namespace", edit: []func(*specs.Spec){withoutNamespace(specs.IPCNamespace), sysctl("kernel.shmmax", "1")}, err: "kernel.shmmax belongs to the IPC namespace"},
		{name: "sysctl uts, no UTS namespace", edit: []func(*specs.Spec){withoutNamespace(specs.UTSNamespace), sysctl("kernel.hostname", "h")}, err: "kernel.hostname belongs to the UTS namespace"},
		{name: "sysctl key with slashes", edit: []func(*specs.Spec){sysctl("net/ipv4/../../x", "1")}, err: "bad key"},

		{name: "rlimit", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 10}}
		}}},
		{name: "unknown rlimit", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}} }}, err: `process.rlimits: unknown resource limit "RLIMIT_BOGUS"`},
		{name: "pids, delegated", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}
		}}},
		{name: "pids, not delegated", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}
		}}, err: "linux.resources.pids cannot be enforced: it needs a delegated cgroup v2 pids controller: no cgroup v2 here (an RLIMIT_NPROC"},
		{name: "memory and cpu, delegated", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20), Swap: ptr[int64](-1)}, CPU: &specs.LinuxCPU{Quota: ptr[int64](50000), Period: ptr[uint64](100000)}}
		}}},
		{name: "memory, not delegated", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20)}}
		}}, err: "linux.resources.memory.limit cannot be enforced"},
		{name: "cpu, not delegated", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr[int64](1000)}}
		}}, err: "linux.resources.cpu.quota cannot be enforced"},
		{name: "memory swap", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1), Swap: ptr[int64](2)}}
		}}, err: "linux.resources.memory.swap"},
		{name: "memory reservation", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: ptr[int64](1)}}
		}}, err: "linux.resources.memory.reservation"},
		{name: "cpu shares", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](2)}}
		}}, err: "linux.resources.cpu.shares"},
		{name: "cpuset", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}} }}, err: "linux.resources.cpu.cpus"},
		{name: "cpu period alone", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr[uint64](1000)}}
		}}, err: "linux.resources.cpu.period without cpu.quota"},
		{name: "blockIO", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](10)}}
		}}, err: "linux.resources.blockIO"},
		{name: "hugepages", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}}
		}}, err: "linux.resources.hugepageLimits"},
		{name: "unified", cgroup: true, edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}
		}}, err: "linux.resources.unified"},
		{name: "device rules as engines send them", edit: []func(*specs.Spec){func(s *specs.Spec) {
			rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
			for _, d := range s.Linux.Devices {
				rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: ptr(d.Major), Minor: ptr(d.Minor), Access: "rwm"})
			}
			s.Linux.Resources = &specs.LinuxResources{Devices: rules}
		}}},
		{name: "device rule denying a device given", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "w"}}}
		}}, err: "linux.resources.devices: denying access to /dev/null"},
		{name: "deny all, allow none", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
		}}, err: "linux.resources.devices: denying access to /dev/null"},
		{name: "device rule denying a device not given", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: ptr[int64](10), Minor: ptr[int64](229), Access: "rwm"}}}
		}}},

		{name: "extra device", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229})
		}}, err: "linux.devices: /dev/fuse (c 10:229) is not supported"},
		{name: "default device, other numbers", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.Devices[0].Minor = 99 }}, err: "linux.devices: /dev/null (c 1:99)"},
		{name: "net devices", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}} }}, err: "linux.netDevices"},
		{name: "intelRdt", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} }}, err: "linux.intelRdt"},
		{name: "memoryPolicy", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind} }}, err: "linux.memoryPolicy"},
		{name: "personality linux32", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} }}, err: "linux.personality LINUX32"},
		{name: "personality linux", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux} }}},
		{name: "timeOffsets", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}} }}, err: "linux.timeOffsets"},
		{name: "rootfsPropagation rprivate", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.RootfsPropagation = "rprivate" }}},
		{name: "rootfsPropagation shared", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.RootfsPropagation = "shared" }}},
		{name: "rootfsPropagation unknown", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }}, err: `linux.rootfsPropagation "sideways"`},
		{name: "domainname", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Domainname = "example.org" }}, err: "domainname is not supported"},
		{name: "id-mapped mount", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/m", Type: "bind", Source: "/x", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
		}}, err: "mounts: id-mapped mount on /m"},
		{name: "windows section", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Windows = &specs.Windows{} }}, err: "the windows section"},

		{name: "ioPriority", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE} }}, err: "process.ioPriority"},
		{name: "scheduler", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch} }}, err: "process.scheduler"},
		{name: "oomScoreAdj", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.OOMScoreAdj = ptr(100) }}},
		{name: "umask", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.User.Umask = ptr[uint32](0o22) }}},
		{name: "unknown capability", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_TEST")
		}}, err: `process.capabilities: unknown capability "CAP_TEST"`},
		{name: "execCPUAffinity", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0"} }}, err: "process.execCPUAffinity"},

		{name: "apparmor, none on the host", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.ApparmorProfile = "containers-default" }}},
		{name: "apparmor, enforced", lsm: "AppArmor", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.ApparmorProfile = "containers-default" }}, err: `process.apparmorProfile "containers-default" is not supported`},
		{name: "selinux, none on the host", lsm: "AppArmor", edit: []func(*specs.Spec){func(s *specs.Spec) {
			s.Process.SelinuxLabel = "system_u:system_r:container_t:s0"
			s.Linux.MountLabel = "system_u:object_r:container_file_t:s0"
		}}},
		{name: "selinux, enforced", lsm: "SELinux", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }}, err: "process.selinuxLabel"},
		{name: "selinux mount label, enforced", lsm: "SELinux", edit: []func(*specs.Spec){func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" }}, err: "linux.mountLabel"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clear(lsms)
			if c.lsm != "" {
				lsms[c.lsm] = true
			}
			delegated = cgroups.Delegation{Why: "no cgroup v2 here"}
			if c.cgroup {
				delegated = cgroups.Delegation{Dir: "/sys/fs/cgroup/user", Controllers: []string{"cpu", "memory", "pids"}}
			}
			s, err := spec.New(spec.Options{Args: []string{"sh"}, Rootfs: "/r", Init: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, edit := range c.edit {
				edit(s)
			}
			err = checkSpec(s)
			switch {
			case c.err == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.err != "" && err == nil:
				t.Errorf("accepted, want an error with %q", c.err)
			case c.err != "" && !strings.Contains(err.Error(), c.err):
				t.Errorf("error %q, want one with %q", err, c.err)
			}
		})
	}
}

// TestSpecCheckBuilt: every spec the spec package builds, with each
// network mode and the options the command line sets, passes checkSpec.
func TestSpecCheckBuilt(t *testing.T) {
	oldDetect := detectCgroups
	detectCgroups = func() cgroups.Delegation {
		return cgroups.Delegation{Dir: "/sys/fs/cgroup/user", Controllers: []string{"cpu", "memory", "pids"}}
	}
	t.Cleanup(func() { detectCgroups = oldDetect })
	for _, network := range []string{"", spec.NetworkNone, spec.NetworkHost, spec.NetworkSlirp, spec.NetworkSlirp4netns, spec.NetworkPasta} {
		limit := int64(100)
		o := spec.Options{
			Args: []string{"sh"}, Rootfs: "/r", ReadOnly: true, Network: network, Init: true, Terminal: true,
			Hostname: "h", NoNewPrivileges: true, StopSignal: "SIGINT", Capabilities: spec.AllCapabilities(),
			Rlimits:   []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1}, {Type: "RLIMIT_NPROC", Soft: 1, Hard: 1}},
			Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}, Memory: &specs.LinuxMemory{Limit: &limit}, CPU: &specs.LinuxCPU{Quota: &limit, Period: ptr[uint64](100000)}},
			Sysctl:    map[string]string{"kernel.shmmax": "1", "fs.mqueue.msg_max": "1", "kernel.hostname": "x"},
		}
		if network != spec.NetworkHost {
			o.Sysctl["net.ipv4.ip_forward"] = "1"
		}
		s, err := spec.New(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSpec(s); err != nil {
			t.Errorf("network %q: %v", network, err)
		}
	}
}

func TestSpecValidateID(t *testing.T) {
	good := []string{NewID(), "a", "0", "abc_DEF.1-2", strings.Repeat("a", MaxIDLength)}
	bad := []string{"", ".", "..", "-a", "_a", ".a", "a/b", "../x", "a b", "a\x00", "ü", strings.Repeat("a", MaxIDLength+1)}
	for _, id := range good {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v", id, err)
		}
	}
	for _, id := range bad {
		if err := ValidateID(id); err == nil {
			t.Errorf("ValidateID(%q): no error", id)
		}
	}
}

func TestSpecValidateName(t *testing.T) {
	good := []string{"web", "my_app.1-2", "9lives", strings.Repeat("n", MaxNameLength)}
	bad := []string{"", "-x", ".", "..", "_x", "a/b", "a:b", "a b", strings.Repeat("n", MaxNameLength+1)}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q): %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); err == nil {
			t.Errorf("ValidateName(%q): no error", n)
		}
	}
}
