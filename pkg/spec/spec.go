// Package spec builds the OCI runtime spec (runtime-spec's specs.Spec) of a
// rootless container the way podman lays it out: namespaces, mounts, device
// nodes, environment, user and capabilities. The spec is what rless hands to
// its own runtime and what any OCI runtime could run.
package spec

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/generate"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/userns"
)

// Annotations rless reads from a spec.
const (
	// AnnotationInit is "true" when rless's init runs as PID 1 and starts
	// the process, "false" when the process is PID 1 itself, and "idle"
	// when rless's init runs as PID 1 without a process of its own (see
	// Options.Idle).
	AnnotationInit = "io.rless.init"
)

// DefaultPath is the PATH a container gets unless its environment sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCapabilities is the capability set a container's process keeps by
// default (podman's).
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_CHROOT",
}

// Network modes.
const (
	NetworkNone  = "none"  // a new network namespace with only loopback
	NetworkHost  = "host"  // the host's network namespace
	NetworkSlirp = "slirp" // a new network namespace with a tap device served by a userspace stack (Options.Slirp)
	// NetworkSlirp4netns and NetworkPasta: a new network namespace that
	// an external program connects (a network.Driver).
	NetworkSlirp4netns = "slirp4netns"
	NetworkPasta       = "pasta"
)

// Options are the inputs of New.
type Options struct {
	Rootfs   string     // root filesystem directory
	ReadOnly bool       // mount the root read-only
	Args     []string   // the command and its arguments
	Env      []string   // KEY=VALUE, over the defaults
	Cwd      string     // working directory; "" is "/"
	User     specs.User // the process's ids
	Home     string     // HOME unless Env sets it; "" is "/root" for uid 0, else "/"
	Hostname string     // UTS hostname
	Terminal bool       // give the process a pseudo-terminal
	Network  string     // NetworkNone (default), NetworkHost or NetworkSlirp
	// Slirp is the userspace network of NetworkSlirp (nil: its defaults).
	Slirp *network.Config
	Init  bool // run rless's init as PID 1
	// Idle runs rless's init as PID 1 with no command (Args must be
	// empty): the container holds the processes exec starts in it until
	// it is stopped. Idle implies Init.
	Idle    bool
	Mapping userns.Mapping // the user namespace's id mappings
	// StopSignal is the signal that stops the container (see
	// ParseSignal); "" is SIGTERM.
	StopSignal string

	// Capabilities is the process's capability set (see Capabilities);
	// nil means DefaultCapabilities.
	Capabilities []string
	// NoNewPrivileges sets no_new_privs: setuid bits and file capabilities
	// grant nothing.
	NoNewPrivileges bool
	// MaskedPaths and ReadonlyPaths (see MaskedAndReadonly); nil means
	// podman's defaults.
	MaskedPaths, ReadonlyPaths []string
	// Rlimits are the process's resource limits; those not named are
	// inherited from rless.
	Rlimits []specs.POSIXRlimit
	// Resources are limits enforced in a cgroup (see package cgroups);
	// nil for none.
	Resources *specs.LinuxResources
	// Seccomp is "" for the default profile (Docker's, as podman's),
	// SeccompUnconfined for none, or the path of a profile in the
	// Docker/podman JSON format.
	Seccomp string
	// Sysctl are the kernel parameters (dotted names, as
	// net.ipv4.ip_forward) set in the container's namespaces (see
	// ParseSysctl); the runtime refuses those of no namespace of the
	// container's own.
	Sysctl map[string]string
}

// SeccompUnconfined is the Seccomp option for no seccomp filter.
const SeccompUnconfined = "unconfined"

// New returns the spec of a container with options o.
func New(o Options) (*specs.Spec, error) {
	switch {
	case o.Idle && len(o.Args) > 0:
		return nil, fmt.Errorf("an idle container runs no command of its own: %q given", o.Args)
	case !o.Idle && len(o.Args) == 0:
		return nil, fmt.Errorf("no command given")
	}
	g, err := generate.New("linux")
	if err != nil {
		return nil, err
	}
	g.SetRootPath(o.Rootfs)
	g.SetRootReadonly(o.ReadOnly)
	g.SetHostname(o.Hostname)
	g.SetProcessArgs(o.Args)
	g.SetProcessTerminal(o.Terminal)
	g.SetProcessCwd(cwdOr(o.Cwd))
	g.SetProcessUID(o.User.UID)
	g.SetProcessGID(o.User.GID)
	for _, gid := range o.User.AdditionalGids {
		g.AddProcessAdditionalGid(gid)
	}
	g.ClearProcessRlimits()
	g.ClearProcessEnv()
	g.AddMultipleProcessEnv(Env(o))

	g.SetProcessNoNewPrivileges(o.NoNewPrivileges)
	for _, r := range o.Rlimits {
		g.AddProcessRlimits(r.Type, r.Hard, r.Soft)
	}

	g.ClearLinuxNamespaces()
	nss := []specs.LinuxNamespaceType{specs.UserNamespace, specs.MountNamespace, specs.PIDNamespace, specs.UTSNamespace, specs.IPCNamespace, specs.CgroupNamespace}
	switch o.Network {
	case "", NetworkNone:
		nss = append(nss, specs.NetworkNamespace)
	case NetworkSlirp:
		nss = append(nss, specs.NetworkNamespace)
		cfg := network.DefaultConfig()
		if o.Slirp != nil {
			cfg = *o.Slirp
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	case NetworkSlirp4netns, NetworkPasta:
		nss = append(nss, specs.NetworkNamespace)
	case NetworkHost:
	default:
		return nil, fmt.Errorf("unknown network mode %q (want %s, %s, %s, %s or %s)", o.Network, NetworkSlirp, NetworkNone, NetworkHost, NetworkSlirp4netns, NetworkPasta)
	}
	for _, ns := range nss {
		if err := g.AddOrReplaceLinuxNamespace(string(ns), ""); err != nil {
			return nil, err
		}
	}
	g.ClearLinuxUIDMappings()
	g.ClearLinuxGIDMappings()
	for _, m := range o.Mapping.UIDs {
		g.AddLinuxUIDMapping(m.HostID, m.ContainerID, m.Size)
	}
	for _, m := range o.Mapping.GIDs {
		g.AddLinuxGIDMapping(m.HostID, m.ContainerID, m.Size)
	}

	g.ClearMounts()
	for _, m := range Mounts(o) {
		g.AddMount(m)
	}
	g.ClearLinuxDevices()
	for _, d := range Devices() {
		g.AddDevice(d)
	}
	init := fmt.Sprint(o.Init)
	if o.Idle {
		init = "idle"
	}
	g.AddAnnotation(AnnotationInit, init)
	if o.StopSignal != "" {
		sig, err := ParseSignal(o.StopSignal)
		if err != nil {
			return nil, fmt.Errorf("stop signal: %w", err)
		}
		g.AddAnnotation(AnnotationStopSignal, SignalName(sig))
	}
	s := g.Config
	s.Linux.Resources = o.Resources
	if len(o.Sysctl) > 0 {
		s.Linux.Sysctl = maps.Clone(o.Sysctl)
	}
	_, rootGroup := userns.HostID(o.Mapping.GIDs, 0)
	if o.Network != NetworkHost && (rootGroup || len(o.Mapping.GIDs) == 0) {
		// As podman's default_sysctls: root of the container may open
		// ICMP echo sockets (ping without CAP_NET_RAW). (Not where the
		// container has no group 0, as the sandbox's own ids.)
		if _, set := s.Linux.Sysctl[PingGroupRange]; !set {
			if s.Linux.Sysctl == nil {
				s.Linux.Sysctl = map[string]string{}
			}
			s.Linux.Sysctl[PingGroupRange] = "0 0"
		}
	}
	s.Linux.Seccomp = nil
	caps := o.Capabilities
	if caps == nil {
		caps = DefaultCapabilities
	}
	applyCapabilities(s, caps)
	masked, readonly := o.MaskedPaths, o.ReadonlyPaths
	if masked == nil {
		masked = slices.Clone(DefaultMaskedPaths)
	}
	if readonly == nil {
		readonly = slices.Clone(DefaultReadonlyPaths)
	}
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = masked, readonly
	if s.Linux.Seccomp, err = seccompProfile(o.Seccomp, s); err != nil {
		return nil, err
	}
	return s, nil
}

func cwdOr(cwd string) string {
	if cwd == "" {
		return "/"
	}
	return cwd
}

// Env returns the process environment of a container with options o: the
// defaults podman sets, overridden by o.Env. Entries of o.Env without "="
// are ignored (a CLI resolves them from its own environment first).
func Env(o Options) []string {
	home := o.Home
	if home == "" {
		home = "/"
		if o.User.UID == 0 {
			home = "/root"
		}
	}
	env := []string{"PATH=" + DefaultPath, "container=rless", "HOME=" + home}
	if o.Hostname != "" {
		env = append(env, "HOSTNAME="+o.Hostname)
	}
	env = append(env, "TERM=xterm") // with a terminal or not, as podman
	for _, kv := range o.Env {
		key, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
		env = append(env, kv)
	}
	return env
}

// Mounts returns the filesystems every container gets, as podman mounts
// them: /proc, /dev (a tmpfs), /dev/pts, /dev/shm, /dev/mqueue and a
// read-only /sys.
func Mounts(o Options) []specs.Mount {
	ptsOpts := []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}
	if _, ok := userns.HostID(o.Mapping.GIDs, 5); ok {
		ptsOpts = append(ptsOpts, "gid=5") // the tty group
	}
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: ptsOpts},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

// Devices returns the device nodes every container gets.
func Devices() []specs.LinuxDevice {
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		mode := os.FileMode(0o666)
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: &mode}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3), dev("/dev/zero", 1, 5), dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0),
	}
}

// HasNamespace reports whether s lists a namespace of type t (new or by
// path).
func HasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	return s.Linux != nil && slices.ContainsFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == t })
}

// InitEnabled reports whether s asks for rless's init as PID 1.
func InitEnabled(s *specs.Spec) bool {
	return s.Annotations[AnnotationInit] == "true" || Idle(s)
}

// Idle reports whether s asks for rless's init as PID 1 without a
// process of its own (see Options.Idle).
func Idle(s *specs.Spec) bool {
	return s.Annotations[AnnotationInit] == "idle"
}

// seccompProfile returns the seccomp configuration option names for s,
// whose capabilities decide some rules of the profiles.
func seccompProfile(option string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	switch option {
	case SeccompUnconfined:
		return nil, nil
	case "":
		return profiles.GetDefaultProfile(s)
	}
	body, err := os.ReadFile(option)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	sc, err := profiles.LoadProfile(string(body), s)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", option, err)
	}
	return sc, nil
}

// ValidateEnv checks the NAME=VALUE (or NAME) entries of a container's
// environment as podman does: a name must not be empty ("=x" is refused).
func ValidateEnv(env []string) error {
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == "" {
			return fmt.Errorf("invalid environment variable: %q", kv)
		}
	}
	return nil
}
