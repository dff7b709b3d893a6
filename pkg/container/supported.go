package container

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/stage"
	"github.com/rless/rless/pkg/cgroups"
	"github.com/rless/rless/pkg/rootfs"
	"github.com/rless/rless/pkg/spec"
)

// checkSpec refuses a spec that asks for what this runtime does not do, so
// that nothing the caller asked for is silently ignored. Its errors name
// the spec's field (as the OCI runtime spec spells it). A linux.cgroupsPath
// is the one field accepted without being honoured: rootless runtimes
// treat it as best effort, and engines always send it.
func checkSpec(s *specs.Spec) error {
	if s.Domainname != "" {
		return errors.New("domainname is not supported")
	}
	if err := checkHooks(s.Hooks); err != nil {
		return err
	}
	for name, set := range map[string]bool{"solaris": s.Solaris != nil, "windows": s.Windows != nil, "vm": s.VM != nil, "zos": s.ZOS != nil, "freebsd": s.FreeBSD != nil} {
		if set {
			return fmt.Errorf("the %s section is not supported on Linux", name)
		}
	}
	for _, m := range s.Mounts {
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			return fmt.Errorf("mounts: id-mapped mount on %s is not supported", m.Destination)
		}
	}
	if s.Process != nil {
		if err := checkProcess(s.Process); err != nil {
			return err
		}
	}
	if s.Linux != nil {
		if err := checkLinux(s); err != nil {
			return err
		}
	}
	return nil
}

// checkHooks refuses any hook: the runtime runs none.
func checkHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	for _, k := range []struct {
		name  string
		hooks []specs.Hook
	}{
		//lint:ignore SA1019 a deprecated hook is refused as the others are
		{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
	} {
		if len(k.hooks) > 0 {
			return fmt.Errorf("hooks.%s (%s) is not supported: the runtime runs no hooks", k.name, k.hooks[0].Path)
		}
	}
	return nil
}

func checkProcess(p *specs.Process) error {
	switch {
	case p.CommandLine != "":
		return errors.New("process.commandLine is not supported on Linux (use process.args)")
	case p.Scheduler != nil:
		return errors.New("process.scheduler is not supported")
	case p.IOPriority != nil:
		return errors.New("process.ioPriority is not supported")
	case p.ExecCPUAffinity != nil:
		return errors.New("process.execCPUAffinity is not supported")
	}
	if err := checkLSM("AppArmor", "process.apparmorProfile", p.ApparmorProfile); err != nil {
		return err
	}
	if err := checkLSM("SELinux", "process.selinuxLabel", p.SelinuxLabel); err != nil {
		return err
	}
	for _, r := range p.Rlimits {
		if _, ok := rlimitTypes[r.Type]; !ok {
			return fmt.Errorf("process.rlimits: unknown resource limit %q", r.Type)
		}
	}
	if c := p.Capabilities; c != nil {
		for _, set := range [][]string{c.Bounding, c.Effective, c.Inheritable, c.Permitted, c.Ambient} {
			for _, name := range set {
				if _, ok := capByName[name]; !ok {
					return fmt.Errorf("process.capabilities: unknown capability %q", name)
				}
			}
		}
	}
	return nil
}

// lsmEnabled reports whether the host enforces the Linux security module
// ("AppArmor" or "SELinux"); a variable for the tests.
var lsmEnabled = func(lsm string) bool {
	switch lsm {
	case "AppArmor": // as runc's apparmor.IsEnabled
		if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
			return false
		}
		b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
		return err == nil && bytes.HasPrefix(b, []byte("Y"))
	case "SELinux":
		_, err := os.Stat("/sys/fs/selinux/enforce")
		return err == nil
	}
	return false
}

// checkLSM accepts a label of the security module lsm only when the host
// does not enforce that module (as runc, which then ignores it): rless
// cannot apply it, and refuses rather than run the container unconfined
// where the module is in force.
func checkLSM(lsm, field, label string) error {
	if label == "" {
		return nil
	}
	if lsmEnabled(lsm) {
		return fmt.Errorf("%s %q is not supported: rless does not apply %s labels", field, label, lsm)
	}
	slog.Debug("ignoring a security label: the host has no "+lsm, "field", field, "label", label)
	return nil
}

func checkLinux(s *specs.Spec) error {
	l := s.Linux
	if err := checkNamespaces(l.Namespaces); err != nil {
		return err
	}
	if err := checkSysctl(s); err != nil {
		return err
	}
	if err := checkDevices(l.Devices); err != nil {
		return err
	}
	if err := checkResources(l.Resources, l.Devices); err != nil {
		return err
	}
	if l.RootfsPropagation != "" && !rootfs.IsPropagation(l.RootfsPropagation) {
		return fmt.Errorf("linux.rootfsPropagation %q is not a mount propagation", l.RootfsPropagation)
	}
	if err := checkLSM("SELinux", "linux.mountLabel", l.MountLabel); err != nil {
		return err
	}
	switch {
	case len(l.NetDevices) > 0:
		return errors.New("linux.netDevices is not supported")
	case l.IntelRdt != nil:
		return errors.New("linux.intelRdt is not supported")
	case l.MemoryPolicy != nil:
		return errors.New("linux.memoryPolicy is not supported")
	case l.Personality != nil && (l.Personality.Domain != specs.PerLinux || len(l.Personality.Flags) > 0):
		return fmt.Errorf("linux.personality %s %v is not supported", l.Personality.Domain, l.Personality.Flags)
	case len(l.TimeOffsets) > 0:
		return errors.New("linux.timeOffsets is not supported (no time namespace)")
	}
	if l.CgroupsPath != "" {
		slog.Debug("linux.cgroupsPath is not used (best effort, as rootless runc)", "cgroupsPath", l.CgroupsPath)
	}
	return nil
}

// namespaceNames are the namespaces the runtime creates, as errors name
// them.
var namespaceNames = map[specs.LinuxNamespaceType]string{
	specs.UserNamespace: "user", specs.MountNamespace: "mount", specs.PIDNamespace: "PID",
	specs.NetworkNamespace: "network", specs.UTSNamespace: "UTS", specs.IPCNamespace: "IPC",
	specs.CgroupNamespace: "cgroup",
}

// checkNamespaces accepts new namespaces of the kinds cloneFlags makes,
// and requires a mount namespace, in which the root is built.
func checkNamespaces(nss []specs.LinuxNamespace) error {
	mount := false
	for _, ns := range nss {
		name, ok := namespaceNames[ns.Type]
		if !ok {
			return fmt.Errorf("linux.namespaces: the %q namespace is not supported", ns.Type)
		}
		if ns.Path != "" && !stage.CanJoin(ns.Type) {
			return fmt.Errorf("joining the %s namespace at %s is not supported", name, ns.Path)
		}
		mount = mount || ns.Type == specs.MountNamespace
	}
	if !mount {
		return errors.New("linux.namespaces: a container without a mount namespace of its own is not supported")
	}
	return nil
}

// sysctlNamespaces maps the namespaced sysctls that are not net.* or
// fs.mqueue.* to their namespace, as runc decides.
var sysctlNamespaces = map[string]specs.LinuxNamespaceType{
	"kernel.msgmax": specs.IPCNamespace, "kernel.msgmnb": specs.IPCNamespace, "kernel.msgmni": specs.IPCNamespace,
	"kernel.sem": specs.IPCNamespace, "kernel.shmall": specs.IPCNamespace, "kernel.shmmax": specs.IPCNamespace,
	"kernel.shmmni": specs.IPCNamespace, "kernel.shm_rmid_forced": specs.IPCNamespace,
	"kernel.domainname": specs.UTSNamespace, "kernel.hostname": specs.UTSNamespace,
}

// sysctlNamespace returns the namespace sysctl key belongs to, or false
// when it is not namespaced.
func sysctlNamespace(key string) (specs.LinuxNamespaceType, bool) {
	switch {
	case strings.HasPrefix(key, "fs.mqueue."):
		return specs.IPCNamespace, true
	case strings.HasPrefix(key, "net."):
		return specs.NetworkNamespace, true
	}
	ns, ok := sysctlNamespaces[key]
	return ns, ok
}

// checkSysctl accepts the sysctls that belong to a namespace the container
// has of its own: the others would change the host (or cannot be written).
func checkSysctl(s *specs.Spec) error {
	keys := make([]string, 0, len(s.Linux.Sysctl))
	for k := range s.Linux.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error every time
	for _, key := range keys {
		if key == "" || strings.ContainsAny(key, "/\x00") {
			return fmt.Errorf("linux.sysctl: bad key %q (want dotted names such as net.ipv4.ip_forward)", key)
		}
		ns, ok := sysctlNamespace(key)
		if !ok {
			return fmt.Errorf("linux.sysctl: %s is not namespaced: setting it would change the host", key)
		}
		if !spec.HasNamespace(s, ns) {
			return fmt.Errorf("linux.sysctl: %s belongs to the %s namespace, which the container shares with the host: setting it would change the host", key, namespaceNames[ns])
		}
	}
	return nil
}

// checkDevices accepts the device nodes every container gets (see
// spec.Devices), which rootfs.Setup binds from the host.
func checkDevices(devs []specs.LinuxDevice) error {
	for _, d := range devs {
		if !isDefaultDevice(d) {
			return fmt.Errorf("linux.devices: %s (%s %d:%d) is not supported: only %s are", d.Path, d.Type, d.Major, d.Minor, strings.Join(defaultDevicePaths(), ", "))
		}
	}
	return nil
}

func isDefaultDevice(d specs.LinuxDevice) bool {
	return slices.ContainsFunc(spec.Devices(), func(def specs.LinuxDevice) bool {
		return d.Path == def.Path && d.Type == def.Type && d.Major == def.Major && d.Minor == def.Minor
	})
}

func defaultDevicePaths() []string {
	var out []string
	for _, d := range spec.Devices() {
		out = append(out, d.Path)
	}
	return out
}

// detectCgroups finds the caller's delegated cgroup; a variable for the
// tests.
var detectCgroups = cgroups.Detect

// checkResources accepts the limits package cgroups enforces (pids,
// memory.limit, cpu.quota and cpu.period) when the host delegates their
// controllers, and device rules the user namespace already enforces.
func checkResources(r *specs.LinuxResources, devs []specs.LinuxDevice) error {
	if r == nil {
		return nil
	}
	if err := checkDeviceRules(r.Devices, devs); err != nil {
		return err
	}
	if m := r.Memory; m != nil {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"reservation", m.Reservation != nil}, {"swap", m.Swap != nil && *m.Swap != -1},
			//lint:ignore SA1019 a deprecated limit is refused as the others are
			{"kernel", m.Kernel != nil}, {"kernelTCP", m.KernelTCP != nil},
			{"swappiness", m.Swappiness != nil}, {"disableOOMKiller", m.DisableOOMKiller != nil && *m.DisableOOMKiller},
		} {
			if f.set {
				return fmt.Errorf("linux.resources.memory.%s is not supported (only memory.limit is enforced)", f.name)
			}
		}
	}
	if c := r.CPU; c != nil {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"shares", c.Shares != nil}, {"burst", c.Burst != nil}, {"realtimeRuntime", c.RealtimeRuntime != nil},
			{"realtimePeriod", c.RealtimePeriod != nil}, {"cpus", c.Cpus != ""}, {"mems", c.Mems != ""},
			{"idle", c.Idle != nil}, {"period without cpu.quota", c.Period != nil && c.Quota == nil},
		} {
			if f.set {
				return fmt.Errorf("linux.resources.cpu.%s is not supported (only cpu.quota and cpu.period are enforced)", f.name)
			}
		}
	}
	switch {
	case r.BlockIO != nil:
		return errors.New("linux.resources.blockIO is not supported")
	case len(r.HugepageLimits) > 0:
		return errors.New("linux.resources.hugepageLimits is not supported")
	case r.Network != nil:
		return errors.New("linux.resources.network is not supported")
	case len(r.Rdma) > 0:
		return errors.New("linux.resources.rdma is not supported")
	case len(r.Unified) > 0:
		return errors.New("linux.resources.unified is not supported")
	}
	need := cgroups.Controllers(r)
	if len(need) == 0 {
		return nil
	}
	d := detectCgroups()
	for _, c := range need {
		if d.Available(c) {
			continue
		}
		field := map[string]string{"pids": "linux.resources.pids", "memory": "linux.resources.memory.limit", "cpu": "linux.resources.cpu.quota"}[c]
		hint := ""
		if c == "pids" {
			hint = " (an RLIMIT_NPROC in process.rlimits limits processes without one)"
		}
		return fmt.Errorf("%s cannot be enforced: it needs a delegated cgroup v2 %s controller: %s%s", field, c, d.Reason(c), hint)
	}
	return nil
}

// checkDeviceRules accepts device cgroup rules that leave the device
// nodes of linux.devices readable and writable: in a user namespace no
// device node can be made, so only those are reachable, and with no device
// cgroup, a rule denying one of them cannot be enforced. Rules apply in
// order, as in a device cgroup: engines deny all first, then allow the
// devices they give.
func checkDeviceRules(rules []specs.LinuxDeviceCgroup, devs []specs.LinuxDevice) error {
	if len(rules) == 0 {
		return nil
	}
	for _, d := range devs {
		access := "rwm" // without rules, everything is allowed
		for _, r := range rules {
			if !ruleMatches(r, d) {
				continue
			}
			a := r.Access
			if a == "" {
				a = "rwm"
			}
			for _, c := range "rwm" {
				if !strings.ContainsRune(a, c) {
					continue
				}
				access = strings.ReplaceAll(access, string(c), "")
				if r.Allow {
					access += string(c)
				}
			}
		}
		// mknod (m) is denied in a user namespace anyway.
		if !strings.Contains(access, "r") || !strings.Contains(access, "w") {
			return fmt.Errorf("linux.resources.devices: denying access to %s (%s %d:%d) is not supported (no device cgroup: the node is bound in linux.devices)", d.Path, d.Type, d.Major, d.Minor)
		}
	}
	return nil
}

func ruleMatches(r specs.LinuxDeviceCgroup, d specs.LinuxDevice) bool {
	return (r.Type == "" || r.Type == "a" || r.Type == d.Type) &&
		(r.Major == nil || *r.Major == -1 || *r.Major == d.Major) &&
		(r.Minor == nil || *r.Minor == -1 || *r.Minor == d.Minor)
}
