package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/cgroups"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/overlay"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/store"
)

// InspectData is what `rless container inspect` prints of a container:
// podman's InspectContainerData (libpod/define), with the fields rless can
// fill, spelled as podman spells them in JSON. Field names are podman's Go
// names too, so that a template written for podman (".State.Status",
// ".Config.Labels", ".HostConfig.RestartPolicy.Name") works on it.
type InspectData struct {
	ID      string    `json:"Id"`
	Created time.Time `json:"Created"`
	// Path is the first word of the container's command line
	// (entrypoint and command), Args the others.
	Path  string        `json:"Path"`
	Args  []string      `json:"Args"`
	State *InspectState `json:"State"`
	// Image is the image's ID ("" for a root directory), ImageName the
	// reference the container was made from.
	Image     string `json:"Image"`
	ImageName string `json:"ImageName"`
	// Rootfs is the root directory of a container made from one (--rootfs).
	Rootfs string `json:"Rootfs"`
	// LogPath is the log file of a detached container ("" with the none
	// log driver, and for one run in the foreground).
	LogPath string `json:"LogPath"`
	// ConmonPidFile is the pid file of the monitor of a detached
	// container (podman's conmon), "" for one run in the foreground.
	ConmonPidFile string `json:"ConmonPidFile"`
	Name          string `json:"Name"`
	RestartCount  int32  `json:"RestartCount"`
	// Driver is the storage driver of the container's root: "overlay"
	// (the kernel's or a FUSE overlay), "vfs" (a copy), or "" for a root
	// directory.
	Driver string `json:"Driver"`
	// MountLabel and ProcessLabel are SELinux's: always "".
	MountLabel   string `json:"MountLabel"`
	ProcessLabel string `json:"ProcessLabel"`
	// Mounts are the bind mounts and volumes added to the container
	// (tmpfs mounts are in HostConfig.Tmpfs, as podman has them).
	Mounts          []InspectMount          `json:"Mounts"`
	NetworkSettings *InspectNetworkSettings `json:"NetworkSettings"`
	Config          *InspectConfig          `json:"Config"`
	HostConfig      *InspectHostConfig      `json:"HostConfig"`
}

// InspectState is the state of a container, podman's
// InspectContainerState.
type InspectState struct {
	// OciVersion is the version of the runtime spec rless writes.
	OciVersion string `json:"OciVersion"`
	// Status is podman's word: "created", "running", "paused" or
	// "exited".
	Status  string `json:"Status"`
	Running bool   `json:"Running"`
	// Paused is true while the container's cgroup is frozen (pause).
	Paused bool `json:"Paused"`
	// Restarting is true while the monitor restarts the container.
	Restarting bool `json:"Restarting"`
	// OOMKilled and Dead are always false: rless does not tell an OOM
	// kill from another SIGKILL, and has no dead state.
	OOMKilled bool `json:"OOMKilled"`
	Dead      bool `json:"Dead"`
	// Pid is the host pid of the container's first process while it
	// runs, else 0; ConmonPid that of its monitor while there is one.
	Pid       int `json:"Pid"`
	ConmonPid int `json:"ConmonPid,omitempty"`
	// ExitCode is the exit status of its last run (128+N for signal N):
	// 0 if it never ended, -1 if it ended without one being known.
	ExitCode int32 `json:"ExitCode"`
	// Error says why the last run ended when the command did not end on
	// its own.
	Error      string    `json:"Error"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
	// Health is the state of the container's healthcheck, nil when it has
	// none.
	Health *InspectHealth `json:"Health,omitempty"`
}

// Healthcheck returns s.Health (empty when nil): podman's name of it in
// templates before 4.0 ({{.State.Healthcheck.Status}}).
func (s *InspectState) Healthcheck() InspectHealth {
	if s.Health == nil {
		return InspectHealth{}
	}
	return *s.Health
}

// InspectHealth is the state of a healthcheck, podman's
// HealthCheckResults.
type InspectHealth struct {
	// Status is "starting", "healthy", "unhealthy", or "" when the
	// container does not run.
	Status        string             `json:"Status"`
	FailingStreak int                `json:"FailingStreak"`
	Log           []InspectHealthLog `json:"Log"`
}

// InspectHealthLog is one run of a healthcheck, podman's HealthCheckLog:
// its times in RFC 3339 with nanoseconds.
type InspectHealthLog struct {
	Start    string `json:"Start"`
	End      string `json:"End"`
	ExitCode int    `json:"ExitCode"`
	Output   string `json:"Output"`
}

// InspectMount is a bind mount or a volume of a container, podman's
// InspectMount.
type InspectMount struct {
	// Type is "bind" or "volume".
	Type string `json:"Type"`
	// Name is a volume's name, "" for a bind mount.
	Name string `json:"Name,omitempty"`
	// Source is the host directory (a volume's mount point).
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	// Driver is "local" for a volume, "" for a bind mount.
	Driver string `json:"Driver"`
	// Mode is SELinux's z or Z: always "" (accepted, ignored).
	Mode string `json:"Mode"`
	// Options are the mount's other options.
	Options []string `json:"Options"`
	RW      bool     `json:"RW"`
	// Propagation is the mount's propagation, if one was given.
	Propagation string `json:"Propagation"`
}

// InspectHostPort is a host address and port a container port is
// published on ("" for all addresses, or for a port the kernel picks and
// the container does not run).
type InspectHostPort struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// InspectNetworkSettings is a container's network, podman's
// InspectNetworkSettings.
type InspectNetworkSettings struct {
	// IPAddress, IPPrefixLen and Gateway are the container's address in
	// the network rless's userspace stack or slirp4netns gives it, while
	// it runs ("" and 0 otherwise, and with pasta, none or host).
	IPAddress   string `json:"IPAddress"`
	IPPrefixLen int    `json:"IPPrefixLen"`
	Gateway     string `json:"Gateway"`
	// GlobalIPv6Address, GlobalIPv6PrefixLen and IPv6Gateway are its
	// IPv6 address in rless's network, when it has one.
	GlobalIPv6Address   string `json:"GlobalIPv6Address"`
	GlobalIPv6PrefixLen int    `json:"GlobalIPv6PrefixLen"`
	IPv6Gateway         string `json:"IPv6Gateway"`
	// Ports maps each published or exposed port ("80/tcp") to where it
	// is published: the ports bound while the container runs, else those
	// asked for; an exposed port that is not published maps to nil.
	Ports map[string][]InspectHostPort `json:"Ports"`
}

// InspectConfig is how a container was configured, podman's
// InspectContainerConfig: its own settings over its image's.
type InspectConfig struct {
	Hostname  string   `json:"Hostname"`
	User      string   `json:"User"`
	Tty       bool     `json:"Tty"`
	OpenStdin bool     `json:"OpenStdin"`
	Env       []string `json:"Env"`
	// Cmd and Entrypoint make the command line the container runs.
	Cmd        []string          `json:"Cmd"`
	Image      string            `json:"Image"`
	WorkingDir string            `json:"WorkingDir"`
	Entrypoint []string          `json:"Entrypoint"`
	Labels     map[string]string `json:"Labels"`
	// StopSignal is the signal's name (SIGTERM), StopTimeout the seconds
	// it has before SIGKILL.
	StopSignal  string `json:"StopSignal"`
	StopTimeout uint   `json:"StopTimeout"`
	// Healthcheck is the container's healthcheck, with its defaults;
	// HealthcheckOnFailureAction what the monitor does when it fails.
	Healthcheck                *InspectHealthConfig `json:"Healthcheck,omitempty"`
	HealthcheckOnFailureAction string               `json:"HealthcheckOnFailureAction,omitempty"`
}

// InspectHealthConfig is a healthcheck, in the shape of the image
// manifest's (Docker's HealthConfig): durations in nanoseconds.
type InspectHealthConfig struct {
	Test        []string      `json:"Test,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
}

// InspectRestartPolicy is a restart policy, podman's.
type InspectRestartPolicy struct {
	// Name is "no", "on-failure", "always" or "unless-stopped".
	Name              string `json:"Name"`
	MaximumRetryCount uint   `json:"MaximumRetryCount"`
}

// InspectLogConfig is where a container's output goes.
type InspectLogConfig struct {
	// Type is "k8s-file" or "none" ("" for a container run in the
	// foreground, whose output is its creator's).
	Type string `json:"Type"`
	Path string `json:"Path"`
	// Size is the cap of the log file ("0B": none).
	Size string `json:"Size"`
}

// InspectUlimit is a resource limit, podman's.
type InspectUlimit struct {
	Name string `json:"Name"`
	Soft int64  `json:"Soft"`
	Hard int64  `json:"Hard"`
}

// InspectHostConfig is the rest of a container's configuration, podman's
// InspectContainerHostConfig (Docker's HostConfig).
type InspectHostConfig struct {
	// Binds are the bind mounts and volumes as -v gives them
	// (SOURCE:DESTINATION:OPTIONS).
	Binds []string `json:"Binds"`
	// Cgroups is "default" or "disabled" (--cgroups=disabled).
	Cgroups   string            `json:"Cgroups"`
	LogConfig *InspectLogConfig `json:"LogConfig"`
	// NetworkMode is the kind of network: "slirp" (rless's userspace
	// stack), "slirp4netns", "pasta", "none" or "host".
	NetworkMode     string                       `json:"NetworkMode"`
	PortBindings    map[string][]InspectHostPort `json:"PortBindings"`
	RestartPolicy   *InspectRestartPolicy        `json:"RestartPolicy"`
	AutoRemove      bool                         `json:"AutoRemove"`
	CapAdd          []string                     `json:"CapAdd"`
	CapDrop         []string                     `json:"CapDrop"`
	Dns             []string                     `json:"Dns"`
	DnsSearch       []string                     `json:"DnsSearch"`
	ExtraHosts      []string                     `json:"ExtraHosts"`
	Privileged      bool                         `json:"Privileged"`
	PublishAllPorts bool                         `json:"PublishAllPorts"`
	ReadonlyRootfs  bool                         `json:"ReadonlyRootfs"`
	// SecurityOpt are the security options as --security-opt gives them.
	SecurityOpt []string `json:"SecurityOpt"`
	// Tmpfs maps each tmpfs mount's destination to its options.
	Tmpfs map[string]string `json:"Tmpfs"`
	// UsernsMode is "keep-id[:uid=N,gid=N]" with keep-id, else "".
	UsernsMode string `json:"UsernsMode"`
	// Memory is the memory limit in bytes, NanoCpus the CPUs in
	// billionths, PidsLimit the most processes (0: none).
	Memory    int64           `json:"Memory"`
	NanoCpus  int64           `json:"NanoCpus"`
	PidsLimit int64           `json:"PidsLimit"`
	Ulimits   []InspectUlimit `json:"Ulimits"`
	// Init is true when rless's init is the container's PID 1.
	Init bool `json:"Init,omitempty"`
}

// Inspect returns what podman's inspect says of the container, from what
// the engine knows of it now (see Info) and its configuration over its
// image's.
func (c *Container) Inspect() (*InspectData, error) {
	info, err := c.Info()
	if err != nil {
		return nil, err
	}
	return c.e.inspect(info), nil
}

// inspect makes the InspectData of the container info describes.
func (e *Engine) inspect(info ContainerInfo) *InspectData {
	cfg := info.Config
	var ic *store.ImageConfig
	if info.ImageID != "" {
		ic, _ = e.ImageConfig(info.ImageID) // nil once the image is gone
	}
	proc := e.effectiveProcess(info, ic)
	d := &InspectData{
		ID: info.ID, Created: info.Created, Image: info.ImageID, ImageName: info.Image,
		Rootfs: info.Rootfs, LogPath: info.LogPath, Name: info.Name,
		RestartCount: int32(info.RestartCount), Driver: e.driverOf(info),
		Args: []string{}, Mounts: []InspectMount{},
	}
	if len(proc.args) > 0 {
		d.Path, d.Args = proc.args[0], append(d.Args, proc.args[1:]...)
	}
	d.State = e.inspectState(info)
	if info.Detached {
		d.ConmonPidFile = e.monitorPath(info.ID, ".pid")
	}

	hc := &InspectHostConfig{
		Binds: []string{}, Cgroups: "default", AutoRemove: info.AutoRemove,
		RestartPolicy: &InspectRestartPolicy{Name: "no"},
		CapAdd:        capNames(cfg.Security.CapAdd), CapDrop: capNames(cfg.Security.CapDrop),
		Dns: nonNil(cfg.DNS), DnsSearch: nonNil(cfg.DNSSearch), ExtraHosts: nonNil(cfg.AddHosts),
		Privileged: cfg.Security.Privileged, PublishAllPorts: cfg.PublishAll, ReadonlyRootfs: cfg.ReadOnly,
		SecurityOpt: securityOpts(cfg.Security), Tmpfs: map[string]string{},
		Memory: cfg.Limits.Memory, NanoCpus: int64(cfg.Limits.CPUs * 1e9), Ulimits: []InspectUlimit{},
		Init: !cfg.NoInit,
	}
	if info.Spec != nil {
		hc.Init = spec.InitEnabled(info.Spec)
	}
	if cfg.Limits.NoCgroups {
		hc.Cgroups = "disabled"
		hc.Memory, hc.NanoCpus = 0, 0
	}
	switch {
	case cfg.Limits.Pids == 0:
		hc.PidsLimit = spec.DefaultPidsLimit
	case cfg.Limits.Pids > 0:
		hc.PidsLimit = cfg.Limits.Pids
	}
	for _, r := range cfg.Limits.Rlimits {
		hc.Ulimits = append(hc.Ulimits, InspectUlimit{Name: r.Type, Soft: int64(r.Soft), Hard: int64(r.Hard)})
	}
	if cfg.Restart.Name != "" {
		hc.RestartPolicy.Name = cfg.Restart.Name
	}
	hc.RestartPolicy.MaximumRetryCount = uint(max(cfg.Restart.MaxRetries, 0))
	if k := cfg.KeepID; k != nil {
		hc.UsernsMode = "keep-id"
		if k.UID >= 0 || k.GID >= 0 {
			var o []string
			if k.UID >= 0 {
				o = append(o, "uid="+strconv.Itoa(k.UID))
			}
			if k.GID >= 0 {
				o = append(o, "gid="+strconv.Itoa(k.GID))
			}
			hc.UsernsMode += ":" + strings.Join(o, ",")
		}
	}
	if info.Detached {
		hc.LogConfig = &InspectLogConfig{Type: cfg.Log.Driver, Path: info.LogPath, Size: units.HumanSize(float64(cfg.Log.MaxSize))}
		if hc.LogConfig.Type == "" {
			hc.LogConfig.Type = "k8s-file"
		}
	} else {
		hc.LogConfig = &InspectLogConfig{Size: "0B"}
	}
	d.Mounts, hc.Binds, hc.Tmpfs = e.inspectMounts(info)
	kind, _, _ := strings.Cut(cfg.Network, ":")
	switch kind {
	case "", "private":
		kind = string(network.KindSlirp)
	}
	if !info.Detached && info.Spec != nil && info.Config.Network == "" {
		kind = networkOfSpec(info.Spec)
	}
	hc.NetworkMode = kind

	ns := &InspectNetworkSettings{Ports: map[string][]InspectHostPort{}}
	asked := publishedPorts(cfg)
	hc.PortBindings = portMap(asked)
	if info.Status == Running && len(info.Ports) > 0 {
		ns.Ports = portMap(info.Ports)
	} else if network.Kind(kind).Own() {
		ns.Ports = portMap(asked)
	}
	if ic != nil && network.Kind(kind).Own() {
		for p := range ic.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			if _, ok := ns.Ports[p]; !ok {
				ns.Ports[p] = nil
			}
		}
	}
	if info.Status == Running && (kind == string(network.KindSlirp) || kind == string(network.KindSlirp4netns)) {
		if m, err := network.ParseMode(cfg.Network, nil, false, nil); err == nil && m.Config.CIDR.IsValid() {
			a := m.Config.ContainerAddr()
			ns.IPAddress, ns.IPPrefixLen, ns.Gateway = a.Addr().String(), a.Bits(), m.Config.Gateway().String()
			if kind == string(network.KindSlirp) && !m.Config.NoIPv6 {
				a6 := m.Config.ContainerAddr6()
				ns.GlobalIPv6Address, ns.GlobalIPv6PrefixLen, ns.IPv6Gateway = a6.Addr().String(), a6.Bits(), m.Config.Gateway6().String()
			}
		}
	}
	d.NetworkSettings = ns

	conf := &InspectConfig{
		Hostname: proc.hostname, User: proc.user, Tty: cfg.Terminal, OpenStdin: cfg.Interactive,
		Env: nonNil(proc.env), Cmd: proc.cmd, Image: info.Image, WorkingDir: proc.cwd,
		Entrypoint: proc.entrypoint, Labels: info.Labels, StopSignal: proc.stopSignal,
		StopTimeout: uint(cfg.StopTimeout / time.Second),
	}
	if conf.Labels == nil {
		conf.Labels = map[string]string{}
	}
	if cfg.StopTimeout <= 0 {
		conf.StopTimeout = 10
	}
	if h := effectiveHealthcheck(cfg); h != nil {
		conf.Healthcheck = &InspectHealthConfig{Test: h.Test, StartPeriod: h.StartPeriod, Interval: h.Interval, Timeout: h.Timeout, Retries: h.Retries}
		conf.HealthcheckOnFailureAction = h.OnFailure
		if conf.HealthcheckOnFailureAction == "" {
			conf.HealthcheckOnFailureAction = "none"
		}
	}
	if !info.Detached && info.Spec != nil {
		foregroundConfig(info, conf, hc)
	}
	d.Config = conf
	d.HostConfig = hc
	return d
}

// foregroundConfig fills in conf and hc for a container run in the
// foreground, of which the engine has no Config: what its spec and record
// tell.
func foregroundConfig(info ContainerInfo, conf *InspectConfig, hc *InspectHostConfig) {
	sp := info.Spec
	hc.PortBindings = portMap(info.Ports)
	if sp.Root != nil {
		hc.ReadonlyRootfs = sp.Root.Readonly
	}
	if pr := sp.Process; pr != nil {
		conf.Tty = pr.Terminal
		for _, r := range pr.Rlimits {
			hc.Ulimits = append(hc.Ulimits, InspectUlimit{Name: r.Type, Soft: int64(r.Soft), Hard: int64(r.Hard)})
		}
	}
	hc.PidsLimit, hc.Memory, hc.NanoCpus = 0, 0, 0
	if sp.Linux != nil && sp.Linux.Resources != nil {
		r := sp.Linux.Resources
		if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit > 0 {
			hc.PidsLimit = *r.Pids.Limit
		}
		if r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit > 0 {
			hc.Memory = *r.Memory.Limit
		}
		if c := r.CPU; c != nil && c.Quota != nil && c.Period != nil && *c.Quota > 0 && *c.Period > 0 {
			hc.NanoCpus = *c.Quota * 1e9 / int64(*c.Period)
		}
	}
}

// inspectState returns the State of info.
func (e *Engine) inspectState(info ContainerInfo) *InspectState {
	st := &InspectState{
		OciVersion: specs.Version, Status: string(info.Status), Pid: info.Pid,
		ExitCode: int32(info.ExitCode), Error: info.Error,
		StartedAt: info.StartedAt, FinishedAt: info.FinishedAt,
	}
	switch info.Status {
	case Running:
		st.Running = true
		st.Paused = e.frozen(info.ID)
		if st.Paused {
			st.Status = "paused"
		}
	case Stopped:
		st.Status = "exited"
	default:
		st.Status = "created"
	}
	if info.Status != Stopped && st.ExitCode < 0 {
		st.ExitCode = 0 // never ended
	}
	if info.Detached {
		st.ConmonPid = e.monitorPid(info.ID)
		if info.Status == Created && st.ConmonPid != 0 && e.readLast(info.ID).Running {
			st.Restarting = true
		}
	}
	if effectiveHealthcheck(info.Config) != nil {
		h := &InspectHealth{Status: info.Health, FailingStreak: info.FailingStreak, Log: []InspectHealthLog{}}
		for _, r := range info.HealthLog {
			h.Log = append(h.Log, InspectHealthLog{
				Start: r.Start.Format(time.RFC3339Nano), End: r.End.Format(time.RFC3339Nano),
				ExitCode: r.ExitCode, Output: r.Output,
			})
		}
		st.Health = h
	}
	return st
}

// frozen reports whether container id's cgroup is frozen (see Freeze).
func (e *Engine) frozen(id string) bool {
	d := cgroups.Detect()
	if d.Dir == "" {
		return false
	}
	data, err := os.ReadFile(filepath.Join(d.Dir, "rless.slice", id, "cgroup.freeze"))
	return err == nil && strings.TrimSpace(string(data)) == "1"
}

// driverOf returns the storage driver of the root of the container info
// describes: its spec's while it runs, else the engine's.
func (e *Engine) driverOf(info ContainerInfo) string {
	if info.ImageID == "" {
		return ""
	}
	driver := e.driver
	if info.Spec != nil {
		if l, ok := overlay.FromAnnotations(info.Spec.Annotations); ok {
			driver = l.Driver
		}
	}
	if driver == overlay.Copy {
		return StorageVFS
	}
	return StorageOverlay
}

// process is what a container runs, as Create makes it of its Config and
// its image's.
type process struct {
	args, entrypoint, cmd, env []string
	hostname, user, cwd        string
	stopSignal                 string
}

// effectiveProcess returns the process of the container info describes,
// whose image's configuration is ic (nil if none or gone): its spec's
// while it runs, else worked out as Create does.
func (e *Engine) effectiveProcess(info ContainerInfo, ic *store.ImageConfig) process {
	cfg := info.Config
	if ic == nil {
		ic = &store.ImageConfig{}
	}
	var p process
	if info.ImageID != "" || info.Image != "" {
		p.entrypoint, p.cmd = ic.Entrypoint, ic.Cmd
		if cfg.Entrypoint != nil {
			p.entrypoint, p.cmd = cfg.Entrypoint, nil
		}
		if len(cfg.Command) > 0 {
			p.cmd = cfg.Command
		}
	} else {
		p.cmd = cfg.Command
	}
	p.args = append(slices.Clone(p.entrypoint), p.cmd...)
	p.user = cfg.User
	if p.user == "" {
		p.user = ic.User
	}
	p.cwd = cfg.Workdir
	if p.cwd == "" {
		p.cwd = ic.WorkingDir
	}
	if p.cwd == "" {
		p.cwd = "/"
	}
	p.hostname = cfg.Hostname
	if p.hostname == "" && len(info.ID) >= 12 {
		p.hostname = info.ID[:12]
	}
	sig := cfg.StopSignal
	if sig == "" {
		sig = ic.StopSignal
	}
	p.stopSignal = "SIGTERM"
	if s, err := spec.ParseSignal(sig); err == nil && sig != "" {
		p.stopSignal = spec.SignalName(s)
	}
	if sp := info.Spec; sp != nil {
		if sp.Hostname != "" {
			p.hostname = sp.Hostname
		}
		if pr := sp.Process; pr != nil {
			p.env, p.cwd = pr.Env, pr.Cwd
			if !info.Detached && info.Config.Image == "" && info.Config.Rootfs == "" {
				// Run in the foreground: the spec is all there is.
				p.args, p.entrypoint, p.cmd = pr.Args, nil, pr.Args
			}
		}
		p.stopSignal = spec.SignalName(spec.StopSignal(sp))
		return p
	}
	o := spec.Options{Env: append(slices.Clone(ic.Env), cfg.Env...), Hostname: p.hostname, Terminal: cfg.Terminal}
	o.User, o.Home = e.resolveUser(info, p.user)
	p.env = spec.Env(o)
	return p
}

// resolveUser returns user (user[:group]) as the container's /etc/passwd
// and /etc/group resolve it, and its home, as well as they can be read
// now (zero values if not).
func (e *Engine) resolveUser(info ContainerInfo, user string) (specs.User, string) {
	if info.Rootfs != "" {
		u, home, _ := spec.ResolveUser(info.Rootfs, user)
		return u, home
	}
	s, err := e.openStore()
	if err != nil || info.ImageID == "" {
		return specs.User{}, ""
	}
	img, err := s.Lookup(info.ImageID)
	if err != nil {
		return specs.User{}, ""
	}
	passwd, err := s.ReadImageFile(img, "/etc/passwd")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return specs.User{}, ""
	}
	group, _ := s.ReadImageFile(img, "/etc/group")
	u, home, _ := spec.ResolveUserFrom(passwd, group, user)
	return u, home
}

// networkOfSpec returns the kind of network of a container run in the
// foreground, from its spec: host without a network namespace of its own,
// else slirp (the default; the spec does not say which).
func networkOfSpec(sp *specs.Spec) string {
	if sp.Linux != nil {
		for _, ns := range sp.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				return string(network.KindSlirp)
			}
		}
	}
	return string(network.KindHost)
}

// inspectMounts returns the bind mounts and volumes of the container info
// describes, as Mounts and as Binds, and its tmpfs mounts.
func (e *Engine) inspectMounts(info ContainerInfo) ([]InspectMount, []string, map[string]string) {
	mounts, binds, tmpfs := []InspectMount{}, []string{}, map[string]string{}
	volumes := map[string]string{} // mount point: name
	if vs, err := e.Volumes(); err == nil {
		for _, v := range vs {
			volumes[v.Mountpoint] = v.Name
		}
	}
	for _, m := range info.Mounts {
		if m.Type == "tmpfs" {
			tmpfs[m.Destination] = strings.Join(m.Options, ",")
			continue
		}
		im := InspectMount{Type: "bind", Source: m.Source, Destination: m.Destination, RW: true, Options: []string{}}
		name := ""
		switch {
		case m.Type == spec.VolumeMount:
			name, im.Source = m.Source, ""
			if v, err := e.Volume(name); err == nil {
				im.Source = v.Mountpoint
			}
		case volumes[m.Source] != "":
			name = volumes[m.Source]
		case !info.Detached && (within(m.Source, e.root) || within(m.Source, e.runRoot)):
			continue // rless's own: /etc/hosts and the like
		}
		if name != "" {
			im.Type, im.Name, im.Driver = "volume", name, "local"
		}
		for _, o := range m.Options {
			switch o {
			case "ro":
				im.RW = false
			case "rw":
			case "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
				im.Propagation = o
			case "z", "Z":
				// SELinux relabelling: nothing to do without SELinux.
			default:
				im.Options = append(im.Options, o)
			}
		}
		mounts = append(mounts, im)
		src := im.Source
		if name != "" {
			src = name
		}
		opts := []string{"rw"}
		if !im.RW {
			opts[0] = "ro"
		}
		if im.Propagation != "" {
			opts = append(opts, im.Propagation)
		}
		binds = append(binds, src+":"+im.Destination+":"+strings.Join(append(opts, im.Options...), ","))
	}
	return mounts, binds, tmpfs
}

// within reports whether path is dir or under it.
func within(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// publishedPorts returns the ports cfg asks to publish (a host port of 0
// for one the kernel picks), those that do not parse left out.
func publishedPorts(cfg Config) []network.PortMapping {
	var out []network.PortMapping
	for _, p := range cfg.Publish {
		ms, err := network.ParsePublish(p)
		if err == nil {
			out = append(out, ms...)
		}
	}
	return out
}

// portMap returns ms as podman's port map: "PORT/PROTO" to the host
// addresses and ports it is published on.
func portMap(ms []network.PortMapping) map[string][]InspectHostPort {
	out := map[string][]InspectHostPort{}
	for _, m := range ms {
		key := strconv.Itoa(int(m.ContainerPort)) + "/" + m.Protocol
		hp := InspectHostPort{}
		if m.HostIP.IsValid() {
			hp.HostIP = m.HostIP.String()
		}
		if m.HostPort != 0 {
			hp.HostPort = strconv.Itoa(int(m.HostPort))
		}
		out[key] = append(out[key], hp)
	}
	return out
}

// capNames returns capabilities as podman lists them: upper case, with
// CAP_ ("ALL" as it is).
func capNames(caps []string) []string {
	out := []string{}
	for _, c := range caps {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	return out
}

// securityOpts returns sec as --security-opt options.
func securityOpts(sec Security) []string {
	out := []string{}
	if sec.Seccomp != "" {
		out = append(out, "seccomp="+sec.Seccomp)
	}
	if sec.NoNewPrivileges {
		out = append(out, "no-new-privileges")
	}
	if len(sec.Mask) > 0 {
		out = append(out, "mask="+strings.Join(sec.Mask, ":"))
	}
	if len(sec.Unmask) > 0 {
		out = append(out, "unmask="+strings.Join(sec.Unmask, ":"))
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
