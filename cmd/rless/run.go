package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/network"
	rootfsp "github.com/rless/rless/pkg/rootfs"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/store"
	"github.com/rless/rless/pkg/userns"
	"github.com/spf13/cobra"
)

type runFlags struct {
	rootfs      string
	readOnly    bool
	env         []string
	workdir     string
	user        string
	hostname    string
	interactive bool
	tty         bool
	init        bool
	net         netFlags
	userns      string
	stopSignal  string
	rm          bool
	sigProxy    bool
	security    securityFlags
	image       imageFlags
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE|--rootfs DIR [COMMAND [ARG...]]",
		Short: "Run a command in a new container",
		Long: `Run a command in a new container, rootless.

The container's root is an image (pulled first when the store lacks it, see
--pull): an overlay of its layers under a writable layer that goes when the
container does, with the image's entrypoint, command, environment, working
directory and user unless flags say otherwise, and /etc/hostname,
/etc/hosts and /etc/resolv.conf provided as podman provides them. Or it is
the directory given with --rootfs, or a first argument that is a path
("/..." or "./..."), bind-mounted read-write (read-only with --read-only).
Flags after the image or command belong to the command.

The container's network is, by default, a userspace network built into rless
(10.0.2.100 behind 10.0.2.2, DNS at 10.0.2.3; --network slirp:OPTIONS), with
ports published by -p; --network none, host, slirp4netns or pasta choose
otherwise. --userns=keep-id keeps your uid and gid inside.

There are no detached containers yet: a container's storage is removed when
it exits, with or without --rm.

rless's own init runs as PID 1 by default (as "podman run --init"): it
forwards signals to the command and reaps zombies; --init=false makes the
command PID 1. The exit status is the command's (128+N when signal N killed
it), 125 when rless fails, 126 when the command cannot be executed and 127
when it is not found.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd, g, f, args)
		},
	}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.StringVar(&f.rootfs, "rootfs", "", "use directory `DIR` as the container's root filesystem")
	fl.BoolVar(&f.readOnly, "read-only", false, "mount the root filesystem read-only")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (NAME=VALUE, or NAME to take it from the host)")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container (created if missing)")
	fl.StringVarP(&f.user, "user", "u", "", "user[:group] to run as, as names or numbers")
	fl.StringVar(&f.hostname, "hostname", "", "container host name (default: the short container id)")
	fl.BoolVarP(&f.interactive, "interactive", "i", false, "keep standard input open and pass it to the command")
	fl.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-terminal for the command")
	fl.BoolVar(&f.init, "init", true, "run rless's init as PID 1 to forward signals and reap zombies")
	f.net.register(fl)
	fl.StringVar(&f.userns, "userns", "", "user namespace layout: host (default: container root is your user) or keep-id[:uid=N,gid=N] (your uid and gid are the same inside, and the command runs as them)")
	fl.StringVar(&f.stopSignal, "stop-signal", "", "signal that stops the container (default: the image's StopSignal, else SIGTERM); rless's init passes it on to the command")
	fl.BoolVar(&f.rm, "rm", false, "remove the container when it exits (always done: there are no detached containers yet)")
	fl.BoolVar(&f.sigProxy, "sig-proxy", true, "forward the signals rless receives to the container")
	f.security.register(fl)
	f.image.register(cmd)
	return cmd
}

func runRun(cmd *cobra.Command, g *globals, f *runFlags, args []string) error {
	dir, imageRef := f.rootfs, ""
	if dir == "" {
		if len(args) == 0 {
			return errors.New("no image given")
		}
		if strings.HasPrefix(args[0], "/") || strings.HasPrefix(args[0], ".") {
			dir = args[0]
		} else {
			imageRef = args[0]
		}
		args = args[1:]
	}
	var s *store.Store
	var img store.Image
	var imgCfg *store.ImageConfig
	var err error
	if imageRef != "" {
		if s, err = openStore(g); err != nil {
			return err
		}
		if img, err = findImage(cmd, g, s, imageRef, f.image.pull); err != nil {
			return err
		}
		if imgCfg, err = s.ImageConfig(img.ID); err != nil {
			return err
		}
	} else if len(args) == 0 {
		return errors.New("no command given")
	}
	var exposed map[string]struct{}
	if imgCfg != nil {
		exposed = imgCfg.ExposedPorts
	}
	netMode, err := f.net.parse(exposed)
	if err != nil {
		return err
	}
	// Waited for last: it stops as the container ends, and its exit
	// overlaps the rest of the clean-up.
	var netDriver network.Driver
	defer func() { closeNetwork(netDriver) }()
	keep, err := parseUserns(f.userns)
	if err != nil {
		return err
	}
	if keep != nil && netMode.Kind.External() {
		return fmt.Errorf("--network %s with --userns=keep-id is not supported: use the default network", netMode.Kind)
	}
	host, mapping, err := detectMapping(g)
	if err != nil {
		return err
	}
	// The container's layout: the default, or keep-id's.
	ctrMapping := mapping
	if keep != nil {
		if ctrMapping, err = keep.mapping(host); err != nil {
			return err
		}
	}
	id := container.NewID()
	hostname := f.hostname
	if hostname == "" {
		hostname = id[:12]
	}
	opts := spec.Options{
		ReadOnly: f.readOnly, Args: args, Env: hostEnv(f.env),
		Cwd: f.workdir, Hostname: hostname, Terminal: f.tty,
		Init: f.init, Mapping: ctrMapping,
		StopSignal: f.stopSignal,
	}
	var mounts []specs.Mount
	var ctr *store.Container
	var removeStorage func()
	var prepare func() error
	if imageRef != "" {
		ctr, prepare, mounts, err = imageOptions(cmd, g, s, img, imgCfg, id, f, keep, host, f.net.etc(netMode, hostname), args, &opts)
		if err != nil {
			return err
		}
		removeStorage = sync.OnceFunc(func() {
			slog.Debug("removing container storage")
			if rerr := removeContainer(cmd, s, ctr, host, mapping); rerr != nil {
				fmt.Fprintf(os.Stderr, "WARN: %v\n", rerr)
			}
			slog.Debug("container storage removed")
		})
		// Done as soon as the container is gone (AfterExit), or here.
		defer removeStorage()
	} else {
		// Checked here too, to fail before any namespace is made.
		if opts.Rootfs, err = rootfsp.CheckRoot(dir); err != nil {
			return err
		}
		if opts.User, opts.Home, err = spec.ResolveUser(opts.Rootfs, f.user); err != nil {
			return err
		}
		if keep != nil && f.user == "" {
			opts.User, opts.Home, _ = keep.user(host, nil)
		}
		if mounts, err = f.image.userMounts(); err != nil {
			return err
		}
		var etc []specs.Mount
		etc, prepare = rootfsEtc(g.runRoot, id, opts.Rootfs, f.net.etc(netMode, hostname))
		mounts = append(etc, mounts...)
	}
	if mounts, err = resolveVolumes(g, s, mounts); err != nil {
		return err
	}
	if mounts, err = chownMounts(cmd, host, ctrMapping, opts.User, mounts); err != nil {
		return err
	}
	if err := f.security.apply(&opts); err != nil {
		return err
	}
	// The network last: its stack starts now, alongside the container.
	if netDriver, err = openNetwork(cmd.Context(), g.runRoot, netMode, &opts); err != nil {
		return err
	}
	sp, err := spec.New(opts)
	if err != nil {
		return err
	}
	sp.Mounts = append(sp.Mounts, mounts...)
	if sp.Annotations == nil {
		sp.Annotations = map[string]string{}
	}
	if netDriver != nil {
		network.AnnotatePorts(sp.Annotations, netDriver.Ports())
	}
	if ctr != nil {
		ctr.Layout.Annotate(sp.Annotations)
		sp.Annotations[container.AnnotationImage] = img.ID
	}
	cfg := container.Config{
		ID: id, Spec: sp, Host: host, Mapping: ctrMapping, RunRoot: g.runRoot,
		Stdout: os.Stdout, Stderr: os.Stderr, ProxySignals: f.sigProxy,
	}
	cfg.Prepare, cfg.AfterExit = prepare, removeStorage
	netHooks(cmd.Context(), netDriver, &cfg)
	if f.interactive {
		cfg.Stdin = os.Stdin
	}
	code, err := container.Run(cmd.Context(), cfg)
	if err != nil || code == 0 {
		return err
	}
	return exitError{code}
}

// rootfsEtc returns the bind mounts of the /etc/hosts, /etc/resolv.conf
// and /etc/hostname of a container on a root directory, for those the
// directory has (none is created in it), and the function that writes them
// into the container's state directory once it exists (so that they go
// with it, also when rless is killed).
func rootfsEtc(runRoot, id, root string, o container.EtcOptions) ([]specs.Mount, func() error) {
	dir := filepath.Join(runRoot, id)
	var mounts []specs.Mount
	for _, m := range container.EtcMounts(dir) {
		if fi, err := os.Lstat(filepath.Join(root, m.Destination)); err == nil && fi.Mode().IsRegular() {
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

// hostEnv completes NAME entries (without "=") from the host environment,
// dropping those the host does not set, as podman does.
func hostEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.Contains(kv, "=") {
			out = append(out, kv)
		} else if v, ok := os.LookupEnv(kv); ok {
			out = append(out, kv+"="+v)
		}
	}
	return out
}

// detectMapping looks up the user's ranges and helpers and returns the
// mapping containers get, warning (once) when it is the single mapping.
func detectMapping(g *globals) (*userns.Host, userns.Mapping, error) {
	host, err := userns.DetectHost()
	if err != nil {
		return nil, userns.Mapping{}, err
	}
	mapping, fallback := host.Mapping()
	if fallback != "" {
		warnOnce(g.runRoot, "single-mapping", fallback+": using a single mapping (container root = your user); other ids, and chown to them, are unavailable")
	}
	return host, mapping, nil
}

// warnOnce prints a warning the first time it is given under key since the
// run root was created (that is, once per boot when it is on a tmpfs).
func warnOnce(runRoot, key, msg string) {
	marker := filepath.Join(runRoot, ".warned-"+key)
	if _, err := os.Stat(marker); err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "WARN: %s\n", msg)
	if os.MkdirAll(runRoot, 0o700) == nil {
		_ = os.WriteFile(marker, nil, 0o600)
	}
}
