package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/cgroups"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/overlay"
	rootfsp "github.com/rless/rless/pkg/rootfs"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/store"
	"github.com/rless/rless/pkg/userns"
)

// Create makes a container as cfg says, pulling its image first if
// needed, and leaves it created: its command starts with Start. Errors
// carry the exit status podman would give (see ExitCode).
func (e *Engine) Create(ctx context.Context, cfg Config) (*Container, error) {
	return e.create(ctx, cfg, false)
}

// Run creates the container cfg describes, runs its command to the end
// with the container's stdio, deletes it (state and storage) and returns
// the command's exit status (128+N when signal N killed it). When ctx is
// done the container is stopped: its stop signal, then SIGKILL after its
// stop timeout. An error means the container could not be created or its
// command not started; ExitCode gives the status to exit with.
func (e *Engine) Run(ctx context.Context, cfg Config) (int, error) {
	cfg.Remove = true
	p, err := e.prepare(ctx, cfg)
	if err != nil {
		return 0, err
	}
	code, err := container.Run(ctx, p.config)
	if err != nil {
		p.cleanup()
	}
	return code, err
}

// ExitCode returns the exit status a command line should give for err: 125
// when rless failed, 126 when the command cannot be executed, 127 when it
// is not found.
func ExitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return container.ExitCodeOf(err)
}

func (e *Engine) create(ctx context.Context, cfg Config, _ bool) (*Container, error) {
	if cfg.Detach {
		return e.createDetached(ctx, cfg)
	}
	p, err := e.prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Remove {
		p.config.AutoRemove = true
	}
	c, err := container.Create(ctx, p.config)
	if err != nil {
		p.cleanup()
		return nil, err
	}
	return &Container{e: e, id: c.ID(), c: c, name: cfg.Name, storage: p.storage, remove: cfg.Remove}, nil
}

// prepared is a container ready to be created: its container.Config and
// what to undo if its creation fails.
type prepared struct {
	config  container.Config
	storage string // its storage directory, if any
	cleanup func()
}

// prepare turns cfg into the runtime's configuration: the image (pulled
// if needed), the spec, the storage, the network.
func (e *Engine) prepare(ctx context.Context, cfg Config) (*prepared, error) {
	return e.prepareAs(ctx, cfg, "")
}

// prepareAs is prepare for container id, or a new one when id is "". A
// container given by id (a detached one, being started) has its name
// already, and keeps its storage: it is made if missing, else used as it
// is, and never removed here.
func (e *Engine) prepareAs(ctx context.Context, cfg Config, fixedID string) (_ *prepared, err error) {
	var undo []func()
	var afterExit []func() // what goes once an auto-removed container has ended
	p := &prepared{}
	p.cleanup = sync.OnceFunc(func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	})
	defer func() {
		if err != nil {
			p.cleanup()
		}
	}()
	if (cfg.Image == "") == (cfg.Rootfs == "") {
		return nil, errors.New("give an image or a root directory")
	}
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	var s *store.Store
	var img store.Image
	var ic *store.ImageConfig
	if cfg.Image != "" {
		if s, err = e.openStore(); err != nil {
			return nil, err
		}
		if img, err = e.findImage(ctx, cfg.Image, cfg.Pull, cfg.Pulling); err != nil {
			return nil, err
		}
		if ic, err = s.ImageConfig(img.ID); err != nil {
			return nil, err
		}
	} else if len(cfg.Command) == 0 && !cfg.Idle {
		return nil, errors.New("no command given")
	}
	var exposed map[string]struct{}
	if ic != nil {
		exposed = ic.ExposedPorts
	}
	mode, err := network.ParseMode(cfg.Network, cfg.Publish, cfg.PublishAll, exposed)
	if err != nil {
		return nil, err
	}
	if cfg.Egress != nil {
		if mode.Kind != network.KindSlirp {
			return nil, fmt.Errorf("network %s cannot limit where the container connects: use the built-in network (slirp)", mode.Kind)
		}
		e := *cfg.Egress
		mode.Config.Egress = &e
	}
	if len(mode.Discarded) > 0 {
		e.warn(fmt.Sprintf("port mappings have been discarded: network %s has no network of its own", mode.Kind))
	}
	if cfg.KeepID != nil && mode.Kind.External() {
		return nil, fmt.Errorf("network %s with keep-id is not supported: use the default network", mode.Kind)
	}
	host, mapping, err := e.Host()
	if err != nil {
		return nil, err
	}
	// The container's layout: the default, or keep-id's.
	ctrMapping := mapping
	switch {
	case cfg.KeepID != nil && cfg.KeepID.Only && cfg.Image != "":
		return nil, errors.New("keep-id with only your ids is for a root directory, not an image (whose files belong to other ids)")
	case cfg.KeepID != nil && cfg.KeepID.Only:
		ctrMapping = host.OwnIDs(cfg.KeepID.UID, cfg.KeepID.GID)
	case cfg.KeepID != nil:
		if ctrMapping, err = host.KeepID(cfg.KeepID.UID, cfg.KeepID.GID); err != nil {
			return nil, err
		}
	}
	if cfg.Name != "" {
		if err := ValidateName(cfg.Name); err != nil {
			return nil, err
		}
	}
	id := fixedID
	if id == "" {
		id = container.NewID()
	}
	if cfg.Name != "" && fixedID == "" {
		release, err := e.claimName(cfg.Name, id)
		if err != nil {
			return nil, err
		}
		undo = append(undo, release)
		if cfg.Remove {
			afterExit = append(afterExit, release)
		}
	}
	hostname := cfg.Hostname
	if hostname == "" && mode.Kind == network.KindHost {
		hostname, _ = os.Hostname() // the host's, as podman
	}
	if hostname == "" {
		hostname = id[:12]
	}
	opts := spec.Options{
		ReadOnly: cfg.ReadOnly, Args: cfg.Command, Env: cfg.Env,
		Cwd: cfg.Workdir, Hostname: hostname, Terminal: cfg.Terminal,
		Init: !cfg.NoInit, Idle: cfg.Idle, Mapping: ctrMapping,
		StopSignal: cfg.StopSignal, Sysctl: cfg.Sysctl,
	}
	etc := etcOptions(mode, cfg, hostname)
	var mounts []specs.Mount
	var prepare func() error
	var layout *overlay.Layout
	record := &container.Record{Name: cfg.Name, Image: cfg.Image, Created: time.Now(), Labels: cfg.Labels}
	if cfg.Image != "" {
		ip, err := e.imageOptions(ctx, s, img, ic, id, cfg, host, etc, &opts)
		if err != nil {
			return nil, err
		}
		mounts, prepare = ip.mounts, ip.prepare
		layout = &ip.ctr.Layout
		p.storage = ip.ctr.Dir
		record.ImageID, record.Storage = img.ID, ip.ctr.Dir
		removeStorage := sync.OnceFunc(func() {
			slog.Debug("removing container storage")
			if err := e.removeStorage(context.Background(), s, ip.ctr.ID, ip.ctr.Dir); err != nil {
				e.warn(err.Error())
			}
			slog.Debug("container storage removed")
		})
		if fixedID == "" {
			undo = append(undo, removeStorage)
		}
		if cfg.Remove {
			afterExit = append(afterExit, removeStorage)
		}
	} else {
		// Checked here too, to fail before any namespace is made.
		root, err := rootfsp.CheckRoot(cfg.Rootfs)
		if err != nil {
			return nil, err
		}
		if opts.User, opts.Home, err = spec.ResolveUser(root, cfg.User); err != nil {
			return nil, startError(err) // podman's runtime fails, at the start
		}
		if cfg.KeepID != nil && cfg.User == "" {
			opts.User, opts.Home, _ = keepIDUser(cfg.KeepID, host, nil)
		}
		if err := addGroups(&opts.User, spec.ReadFileIn(root, "/etc/group"), cfg.GroupAdd); err != nil {
			return nil, err
		}
		opts.Rootfs = root
		if root == "/" {
			// The host's root is bound by the init onto an empty
			// directory of the container's state (rootfs.AnnotationHostRoot).
			opts.Rootfs = filepath.Join(e.runRoot, id, "rootfs")
		}
		// The user's mounts first: the /etc files go over them (or not at
		// all where the user mounts one).
		mounts = slices.Clone(cfg.Mounts)
		etcMounts, writeEtc := rootfsEtc(e.runRoot, id, root, etc, mounts)
		mounts = append(mounts, etcMounts...)
		prepare = writeEtc
		if root == "/" {
			prepare = func() error {
				if err := os.Mkdir(opts.Rootfs, 0o700); err != nil {
					return fmt.Errorf("container root: %w", err)
				}
				if writeEtc != nil {
					return writeEtc()
				}
				return nil
			}
		}
	}
	// The user and group first: a container that cannot start warns of
	// nothing.
	if err := checkMapped(ctrMapping, specs.User{UID: opts.User.UID, GID: opts.User.GID}); err != nil {
		return nil, err
	}
	opts.User.AdditionalGids = e.mappedGroups(ctrMapping, opts.User.AdditionalGids)
	if cfg.Workdir != "" {
		prepare = workdirChecked(prepare, rootLayers(layout, cfg.Rootfs, opts.Rootfs), mounts, cfg.Workdir)
	}
	if mounts, err = e.resolveVolumes(mounts); err != nil {
		return nil, err
	}
	if mounts, err = e.chownMounts(ctx, host, ctrMapping, opts.User, mounts); err != nil {
		return nil, err
	}
	if err := applySecurity(cfg.Security, cfg.Limits, &opts); err != nil {
		return nil, err
	}
	opts.Network = string(mode.Kind)
	if mode.Kind == network.KindSlirp {
		c := mode.Config
		opts.Slirp = &c
	}
	sp, err := spec.New(opts)
	if err != nil {
		return nil, err
	}
	sp.Mounts = append(sp.Mounts, mounts...)
	if sp.Annotations == nil {
		sp.Annotations = map[string]string{}
	}
	if cfg.Rootfs != "" && filepath.Clean(cfg.Rootfs) == "/" {
		sp.Annotations[rootfsp.AnnotationHostRoot] = map[bool]string{true: "ro", false: "rw"}[cfg.ReadOnly]
	}
	if layout != nil {
		// How the init mounts the root (see overlay.FromAnnotations).
		layout.Annotate(sp.Annotations)
		sp.Annotations[container.AnnotationImage] = img.ID
	}
	record.Command = sp.Process.Args
	record.Mounts = mounts
	// The network last: its stack starts now, alongside the container.
	var driver network.Driver
	if mode.Kind.Own() && mode.Kind != network.KindNone {
		if driver, err = network.Open(ctx, mode, network.Options{RunRoot: e.runRoot}); err != nil {
			return nil, err
		}
		if ports := driver.Ports(); len(ports) > 0 {
			network.AnnotatePorts(sp.Annotations, ports)
			record.Ports, _ = json.Marshal(ports)
		}
	}
	p.config = container.Config{
		ID: id, Spec: sp, Host: host, Mapping: ctrMapping, RunRoot: e.runRoot,
		Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr, ProxySignals: cfg.ProxySignals,
		Network: driver, Prepare: prepare, StopTimeout: cfg.StopTimeout, Detach: cfg.Detach,
		Program: e.initProgram, Spare: e.spareInits,
		Record: record,
	}
	if len(afterExit) > 0 {
		p.config.AfterExit = func() {
			for _, f := range afterExit {
				f()
			}
		}
	}
	return p, nil
}

// etcOptions returns what /etc/hosts and /etc/resolv.conf hold for mode.
func etcOptions(mode network.Mode, cfg Config, hostname string) container.EtcOptions {
	o := container.EtcOptions{
		Hostname: hostname, Name: cfg.Name, HostNetwork: mode.Kind == network.KindHost,
		Nameservers: cfg.DNS, Search: cfg.DNSSearch, ExtraHosts: cfg.AddHosts,
	}
	if a, ok := mode.Addrs(); ok {
		o.Address = a.Container
		if len(o.Nameservers) == 0 {
			o.Nameservers = []string{a.DNS.String()}
			o.HostNameservers = true
		}
		o.HostGateway = a.Host
	}
	return o
}

// rootfsEtc returns the bind mounts of the /etc/hosts, /etc/resolv.conf
// and /etc/hostname of a container on a root directory, for those the
// directory has (none is created in it), and the function that writes them
// into the container's state directory once it exists (so that they go
// with it, also when rless is killed).
//
// The files user, the user's mounts, provide are left as they are. With
// the host's root ("/"), a file that is a symbolic link (a resolv.conf
// managed elsewhere, say) is replaced where the link leads.
func rootfsEtc(runRoot, id, root string, o container.EtcOptions, user []specs.Mount) ([]specs.Mount, func() error) {
	dir := filepath.Join(runRoot, id)
	var mounts []specs.Mount
	for _, m := range container.EtcMounts(dir) {
		if slices.ContainsFunc(user, func(u specs.Mount) bool { return filepath.Clean(u.Destination) == m.Destination }) {
			continue
		}
		p := filepath.Join(root, m.Destination)
		fi, err := os.Lstat(p)
		if err == nil && fi.Mode()&os.ModeSymlink != 0 && root == "/" {
			var t string
			if t, err = filepath.EvalSymlinks(p); err == nil {
				m.Destination = t
				fi, err = os.Stat(t)
			}
		}
		if err == nil && fi.Mode().IsRegular() {
			mounts = append(mounts, m)
		}
	}
	if len(mounts) == 0 {
		return nil, nil
	}
	return mounts, func() error {
		_, err := container.EtcFiles(dir, o)
		return err
	}
}

// imagePrepared is what imageOptions made of an image.
type imagePrepared struct {
	ctr     *store.Container
	prepare func() error
	mounts  []specs.Mount
}

// imageOptions fills in opts from image img, whose configuration is ic:
// the root is an overlay of its layers under a writable layer in the
// store, and the command, environment, working directory and user come
// from its config where cfg leaves them. With keep-id the layers are the
// image's copy for that layout, and the command runs as the user's ids
// unless cfg.User says otherwise.
func (e *Engine) imageOptions(ctx context.Context, s *store.Store, img store.Image, ic *store.ImageConfig, id string, cfg Config, host *userns.Host, etcOpts container.EtcOptions, opts *spec.Options) (*imagePrepared, error) {
	entrypoint, command := ic.Entrypoint, ic.Cmd
	if cfg.Entrypoint != nil {
		entrypoint, command = cfg.Entrypoint, nil
	}
	if len(cfg.Command) > 0 {
		command = cfg.Command
	}
	if !cfg.Idle {
		opts.Args = append(append([]string{}, entrypoint...), command...)
	}
	if len(opts.Args) == 0 && !cfg.Idle {
		return nil, fmt.Errorf("image %s has no command: give one", img.ShortID())
	}
	opts.Env = append(append([]string{}, ic.Env...), opts.Env...)
	if opts.Cwd == "" {
		opts.Cwd = ic.WorkingDir
	}
	if opts.StopSignal == "" {
		opts.StopSignal = ic.StopSignal
	}
	user := cfg.User
	if user == "" {
		user = ic.User
	}
	passwd, err := s.ReadImageFile(img, "/etc/passwd")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	group, err := s.ReadImageFile(img, "/etc/group")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if opts.User, opts.Home, err = spec.ResolveUserFrom(passwd, group, user); err != nil {
		return nil, startError(err) // podman's runtime fails, at the start
	}
	// The image's /etc/passwd and /etc/group with the entries podman adds
	// (nil: the image's own).
	var withUser, withGroup []byte
	if passwd != nil {
		pw, gr := spec.MissingEntries(passwd, group, user, opts.User.GID, opts.Cwd)
		if pw != "" {
			withUser = appendLine(passwd, pw)
			if opts.Home = opts.Cwd; opts.Home == "" {
				opts.Home = "/"
			}
		}
		if gr != "" && group != nil {
			withGroup = appendLine(group, gr)
		}
	}
	var lower string
	if cfg.KeepID != nil {
		if lower, err = e.mappedLower(ctx, s, img, host, opts.Mapping); err != nil {
			return nil, err
		}
		if cfg.User == "" {
			opts.User, opts.Home, withUser = keepIDUser(cfg.KeepID, host, passwd)
		}
	}
	if err := addGroups(&opts.User, group, cfg.GroupAdd); err != nil {
		return nil, err
	}
	slog.Debug("image config read")
	c := s.NewContainer(id, img)
	if lower != "" {
		c.Layout.Lower = []string{lower}
	}
	c.Layout.Driver = e.driver
	if e.mountProgram != "" {
		c.Layout.Driver, c.Layout.Program = overlayFuse, e.mountProgram
	}
	if c.Layout.Driver == "" {
		d, err := e.overlayDetection(ctx, host)
		if err != nil {
			return nil, err
		}
		d.Apply(&c.Layout)
	}
	if cfg.Remove {
		// The writable layer goes with the container: no need to sync it,
		// ever.
		c.Layout.Volatile = true
	} else {
		c.Owner = -1 // kept until the container is deleted
	}
	opts.Rootfs = c.Rootfs
	mounts := container.EtcMounts(c.Dir)
	// The files of the image's /etc rless changed, written into the
	// container's directory and bound over the image's.
	var etcCopies []etcCopy
	for _, f := range []etcCopy{{"passwd", withUser}, {"group", withGroup}} {
		if f.data != nil {
			etcCopies = append(etcCopies, f)
			mounts = append(mounts, specs.Mount{Destination: "/etc/" + f.name, Type: "bind", Source: filepath.Join(c.Dir, f.name), Options: []string{"bind", "rprivate"}})
		}
	}
	// The storage and its files are made while the container's first
	// process is mapped (container.Config.Prepare).
	prepare := func() error {
		s.RemoveStaleContainers()
		// What earlier containers left in the trash goes meanwhile, or
		// later.
		if e.emptyTrash != nil {
			e.emptyTrash(s)
		} else {
			go s.EmptyTrash()
		}
		// A kept container's storage, started again, is used as it is.
		_, serr := os.Stat(c.Layout.Upper)
		if kept := c.Owner < 0 && serr == nil; !kept {
			if err := s.MakeContainer(c); err != nil {
				return err
			}
		}
		if _, err := container.EtcFiles(c.Dir, etcOpts); err != nil {
			return c.WriteError(err)
		}
		for _, f := range etcCopies {
			if err := os.WriteFile(filepath.Join(c.Dir, f.name), f.data, 0o644); err != nil {
				return c.WriteError(fmt.Errorf("write /etc/%s: %w", f.name, err))
			}
		}
		slog.Debug("container storage created")
		return nil
	}
	if cfg.ReadOnly {
		// Writable scratch space, as podman's --read-only-tmpfs.
		for _, d := range []string{"/tmp", "/var/tmp", "/run"} {
			m, _ := spec.ParseTmpfs(d + ":mode=1777")
			mounts = append(mounts, m)
		}
	}
	return &imagePrepared{ctr: c, prepare: prepare, mounts: append(mounts, slices.Clone(cfg.Mounts)...)}, nil
}

// resolveVolumes turns the named-volume mounts into bind mounts of the
// volumes' directories, creating volumes that do not exist yet (as podman
// does).
func (e *Engine) resolveVolumes(mounts []specs.Mount) ([]specs.Mount, error) {
	for i, m := range mounts {
		if m.Type != spec.VolumeMount {
			continue
		}
		s, err := e.openStore()
		if err != nil {
			return nil, err
		}
		v, err := s.Volume(m.Source)
		if errors.Is(err, store.ErrNoVolume) {
			v, err = s.CreateVolume(m.Source)
			if errors.Is(err, store.ErrVolumeExists) { // made meanwhile
				v, err = s.Volume(m.Source)
			}
		}
		if err != nil {
			return nil, err
		}
		mounts[i].Type, mounts[i].Source = "bind", v.Mountpoint
	}
	return mounts, nil
}

// chownMounts gives the sources of the mounts with the U option to the
// container's user (inside the user namespace, where its ids exist) and
// drops the option.
func (e *Engine) chownMounts(ctx context.Context, host *userns.Host, mapping userns.Mapping, user specs.User, mounts []specs.Mount) ([]specs.Mount, error) {
	for i, m := range mounts {
		if !slices.Contains(m.Options, spec.ChownOption) {
			continue
		}
		mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == spec.ChownOption })
		_, err := chownFunc.Run(ctx, reexecOptions(host, mapping), chownArgs{Path: m.Source, UID: int(user.UID), GID: int(user.GID)})
		if err != nil {
			return nil, fmt.Errorf("volume %s with U: %w", m.Source, err)
		}
	}
	return mounts, nil
}

// applySecurity fills o's confinement and limits.
func applySecurity(sec Security, lim Limits, o *spec.Options) error {
	var err error
	if o.Capabilities, err = spec.Capabilities(sec.CapAdd, sec.CapDrop, sec.Privileged); err != nil {
		return err
	}
	o.NoNewPrivileges = sec.NoNewPrivileges
	o.Seccomp = sec.Seccomp
	o.MaskedPaths, o.ReadonlyPaths = spec.MaskedAndReadonly(sec.Mask, sec.Unmask, sec.Privileged)
	if sec.Privileged && o.Seccomp == "" {
		o.Seccomp = spec.SeccompUnconfined // as podman: no filter unless one is asked for
	}
	haveNproc, haveNofile := false, false
	for _, r := range lim.Rlimits {
		haveNproc = haveNproc || r.Type == "RLIMIT_NPROC"
		haveNofile = haveNofile || r.Type == "RLIMIT_NOFILE"
		o.Rlimits = append(o.Rlimits, r)
	}
	// As podman: open files up to the hard limit, not the usual soft 1024.
	var nofile unix.Rlimit
	if !haveNofile && unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile) == nil {
		o.Rlimits = append(o.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: nofile.Max, Hard: nofile.Max})
	}
	var d cgroups.Delegation
	if !lim.NoCgroups {
		d = cgroups.Detect()
	}
	res := &specs.LinuxResources{}
	if lim.Memory != 0 && !lim.NoCgroups {
		if !d.Available("memory") {
			return &LimitError{Limit: "memory", Reason: d.Reason("memory")}
		}
		n := lim.Memory
		res.Memory = &specs.LinuxMemory{Limit: &n}
	}
	if lim.CPUs != 0 && !lim.NoCgroups {
		if lim.CPUs < 0 {
			return fmt.Errorf("CPU limit %v: want a positive number", lim.CPUs)
		}
		if !d.Available("cpu") {
			return &LimitError{Limit: "cpu", Reason: d.Reason("cpu")}
		}
		quota, period := int64(lim.CPUs*100000), uint64(100000)
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	// The pids limit: in the cgroup when there is one, else RLIMIT_NPROC
	// (counted per user namespace); an explicit nproc rlimit is kept too.
	pids := lim.Pids
	if pids == 0 {
		pids = spec.DefaultPidsLimit
	}
	if pids > 0 && d.Available("pids") {
		res.Pids = &specs.LinuxPids{Limit: &pids}
	} else if r, ok := spec.PidsRlimit(pids); ok && !haveNproc {
		o.Rlimits = append(o.Rlimits, r)
	}
	if res.Memory != nil || res.CPU != nil || res.Pids != nil {
		o.Resources = res
	}
	return nil
}

// LimitError is a resource limit this host cannot enforce.
type LimitError struct {
	Limit  string // "memory" or "cpu"
	Reason string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("a %s limit needs a delegated cgroup v2 %s controller: %s", e.Limit, e.Limit, e.Reason)
}

// mappedGroups returns the supplementary groups gids that mapping maps,
// with one warning for those it does not (as podman's
// ignore_chown_errors: a user without a subordinate range still runs an
// image whose root is listed in groups it cannot have).
func (e *Engine) mappedGroups(m userns.Mapping, gids []uint32) []uint32 {
	var dropped []string
	out := gids[:0:0]
	for _, g := range gids {
		if _, ok := userns.HostID(m.GIDs, g); ok {
			out = append(out, g)
		} else {
			dropped = append(dropped, fmt.Sprint(g))
		}
	}
	if len(dropped) > 0 {
		e.warn(fmt.Sprintf("supplementary groups %s are not mapped in the user namespace and are dropped (a subordinate gid range in /etc/subgid maps them)", strings.Join(dropped, ",")))
	}
	return out
}

// etcCopy is a file of the container's /etc that rless changed from the
// image's: /etc/NAME holds data.
type etcCopy struct {
	name string
	data []byte
}

// appendLine returns a copy of file with line added, on a line of its own.
func appendLine(file []byte, line string) []byte {
	if len(file) > 0 && file[len(file)-1] != '\n' {
		file = append(slices.Clip(file), '\n')
	}
	return append(slices.Clip(file), line...)
}

// addGroups adds the --group-add groups (names resolved in the container's
// /etc/group, held in group) to u's supplementary groups.
func addGroups(u *specs.User, group []byte, names []string) error {
	gids, err := spec.ResolveGroups(group, names)
	if err != nil {
		return err
	}
	for _, g := range gids {
		if !slices.Contains(u.AdditionalGids, g) {
			u.AdditionalGids = append(u.AdditionalGids, g)
		}
	}
	return nil
}

// keepIDUser returns the user keep-id runs the command as when no user is
// asked for, and its home directory: the one of the image's entry of that
// uid (in passwd, nil when the image has no /etc/passwd), else the user's
// own. For an image whose /etc/passwd has no such entry it also returns
// that file with one added, of the user's name and home, as podman does;
// else nil.
func keepIDUser(k *KeepID, host *userns.Host, passwd []byte) (u specs.User, home string, withUser []byte) {
	uid, gid := uint32(host.UID), uint32(host.GID)
	if k.UID >= 0 {
		uid = uint32(k.UID)
	}
	if k.GID >= 0 {
		gid = uint32(k.GID)
	}
	u = specs.User{UID: uid, GID: gid}
	home, found := spec.LookupUID(passwd, uid)
	if home == "" {
		home = "/"
		if h := hostHome(host.UID); h != "" {
			home = h
		}
	}
	if found || passwd == nil {
		return u, home, nil
	}
	name := host.User
	if name == "" {
		name = "user"
	}
	return u, home, appendLine(passwd, fmt.Sprintf("%s:*:%d:%d:%s:%s:/bin/sh\n", name, uid, gid, name, home))
}

// ParseUserns parses podman's --userns value: "" and "host" (container
// root is the user: nil), or keep-id[:uid=N,gid=N].
func ParseUserns(v string) (*KeepID, error) {
	mode, opts, _ := strings.Cut(v, ":")
	switch mode {
	case "", "host":
		if opts != "" {
			return nil, fmt.Errorf("userns %q: %s takes no options", v, mode)
		}
		return nil, nil
	case "keep-id":
	default:
		return nil, fmt.Errorf("userns %q: want host or keep-id[:uid=N,gid=N]", v)
	}
	k := &KeepID{UID: -1, GID: -1}
	if opts == "" {
		return k, nil
	}
	for _, o := range strings.Split(opts, ",") {
		key, val, _ := strings.Cut(o, "=")
		var n uint64
		_, err := fmt.Sscan(val, &n)
		if err != nil || n > 1<<31-1 || fmt.Sprint(n) != val {
			return nil, fmt.Errorf("userns %q: %s wants a number", v, key)
		}
		switch key {
		case "uid":
			k.UID = int(n)
		case "gid":
			k.GID = int(n)
		default:
			return nil, fmt.Errorf("userns %q: unknown option %q (want uid or gid)", v, key)
		}
	}
	return k, nil
}
