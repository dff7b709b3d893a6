package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rless/rless/pkg/engine"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/spec"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type runFlags struct {
	rootfs      string
	readOnly    bool
	env         []string
	workdir     string
	user        string
	groupAdd    []string
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
	sysctl      []string
	life        lifeFlags
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
the directory given with --rootfs, bind-mounted read-write (read-only with
--read-only).
Flags after the image or command belong to the command.

The container's network is, by default, a userspace network built into rless
(10.0.2.100 behind 10.0.2.2, DNS at 10.0.2.3; --network slirp:OPTIONS), with
ports published by -p; --network none, host, slirp4netns or pasta choose
otherwise. --userns=keep-id keeps your uid and gid inside.

With -d the container runs detached: its monitor, in the supervisor process
that serves all your detached containers (started with the first, ended with
the last), runs it, logs its output (rless logs), serves rless attach,
applies its restart policy and healthcheck, and records how it ended (rless
ps -a); rless prints its id and exits. With -it on a terminal it runs so too, the
terminal attached from its start: the detach keys (--detach-keys, Ctrl-P
Ctrl-Q) leave it running. A container run in the foreground is removed
(its storage too) when it exits, with or without --rm.

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
	registerRunFlags(cmd, f, true)
	return cmd
}

// registerRunFlags registers the flags of run (with run) or create on cmd.
func registerRunFlags(cmd *cobra.Command, f *runFlags, run bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.rootfs, "rootfs", "", "use directory `DIR` as the container's root filesystem")
	fl.BoolVar(&f.readOnly, "read-only", false, "mount the root filesystem read-only")
	stringsVar(fl, &f.env, "env", "e", "set an environment variable (NAME=VALUE, or NAME to take it from the host)", false)
	fl.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container: a directory it has (only the image's own is created if missing)")
	fl.StringVarP(&f.user, "user", "u", "", "user[:group] to run as, as names or numbers")
	stringsVar(fl, &f.groupAdd, "group-add", "", "add a supplementary group (a name of the container's /etc/group, or a number)", true)
	fl.StringVar(&f.hostname, "hostname", "", "container host name (default: the short container id)")
	fl.BoolVarP(&f.interactive, "interactive", "i", false, "keep standard input open and pass it to the command")
	fl.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-terminal for the command")
	fl.BoolVar(&f.init, "init", true, "run rless's init as PID 1 to forward signals and reap zombies")
	f.net.register(fl)
	fl.StringVar(&f.userns, "userns", "", "user namespace layout: host (default: container root is your user) or keep-id[:uid=N,gid=N] (your uid and gid are the same inside, and the command runs as them)")
	fl.StringVar(&f.stopSignal, "stop-signal", "", "signal that stops the container (default: the image's StopSignal, else SIGTERM); rless's init passes it on to the command")
	fl.BoolVar(&f.rm, "rm", false, "remove the container when it exits (always done in the foreground; with -d, once its last run ends)")
	fl.BoolVar(&f.sigProxy, "sig-proxy", true, "forward the signals rless receives to the container")
	f.security.register(fl)
	stringsVar(fl, &f.sysctl, "sysctl", "", "set a namespaced kernel parameter KEY=VALUE (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.domainname)", false)
	f.image.register(cmd)
	f.life.register(fl, run)
}

func runRun(cmd *cobra.Command, g *globals, f *runFlags, args []string) error {
	cfg, err := f.config(cmd, args)
	if err != nil {
		return err
	}
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	if f.life.detach {
		c, err := createDetached(cmd, e, f, cfg)
		if err != nil {
			return err
		}
		if err := c.Start(cmd.Context()); err != nil {
			if f.rm {
				_ = c.Delete(cmd.Context(), true)
			}
			return runError(err)
		}
		fmt.Println(c.ID())
		return nil
	}
	if f.tty && f.interactive && term.IsTerminal(int(os.Stdin.Fd())) {
		return runAttached(cmd, e, f, cfg)
	}
	code, err := e.Run(cmd.Context(), cfg)
	if err != nil {
		return runError(err)
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// runAttached runs cfg as podman runs -it on a terminal: a detached
// container the terminal is attached to from its start, so that the detach
// keys leave it running. It is removed when it ends while attached, as a
// foreground container is.
func runAttached(cmd *cobra.Command, e *engine.Engine, f *runFlags, cfg engine.Config) error {
	c, err := createDetached(cmd, e, f, cfg)
	if err != nil {
		return err
	}
	detached, err := attachDetachable(cmd.Context(), c, true, f.life.detachKeys, true)
	if detached {
		return nil // it goes on
	}
	if derr := c.Delete(context.Background(), true); derr != nil && !errors.Is(derr, engine.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "WARN: remove container %s: %v\n", c.ID()[:12], derr)
	}
	return err
}

// createDetached makes the detached container cfg describes, with its
// --cidfile.
func createDetached(cmd *cobra.Command, e *engine.Engine, f *runFlags, cfg engine.Config) (*engine.Container, error) {
	if f.life.cidfile != "" {
		if _, err := os.Stat(f.life.cidfile); err == nil {
			return nil, fmt.Errorf("container id file exists. Ensure another container is not using it or delete %s", f.life.cidfile)
		}
	}
	cfg.Detach = true
	cfg.Interactive = f.interactive
	cfg.Stdin, cfg.Stdout, cfg.Stderr, cfg.ProxySignals = nil, nil, nil, false
	c, err := e.Create(cmd.Context(), cfg)
	if err != nil {
		return nil, runError(err)
	}
	if err := writeCidfile(f.life.cidfile, c.ID()); err != nil {
		_ = c.Delete(cmd.Context(), true)
		return nil, err
	}
	return c, nil
}

// config returns the container's configuration the flags and arguments
// give.
func (f *runFlags) config(cmd *cobra.Command, args []string) (engine.Config, error) {
	cfg := engine.Config{
		Rootfs: f.rootfs, ReadOnly: f.readOnly, Env: hostEnv(f.env), Workdir: f.workdir,
		User: f.user, GroupAdd: f.groupAdd, Hostname: f.hostname, Terminal: f.tty, NoInit: !f.init,
		StopSignal: f.stopSignal, ProxySignals: f.sigProxy,
		Network: f.net.network, Publish: f.net.publish, PublishAll: f.net.publishAll,
		DNS: f.net.dns, DNSSearch: f.net.dnsSearch, AddHosts: f.net.addHost,
		Stdout: os.Stdout, Stderr: os.Stderr,
	}
	if cfg.Rootfs == "" {
		if len(args) == 0 {
			return cfg, errors.New("no image given")
		}
		if strings.HasPrefix(args[0], "/") || strings.HasPrefix(args[0], ".") {
			// A path is no image (podman's error), and only --rootfs
			// takes a directory.
			return cfg, fmt.Errorf("%q: invalid reference format: a path is no image name (a root directory is given with --rootfs)", args[0])
		}
		cfg.Image = args[0]
		args = args[1:]
	}
	cfg.Command = args
	if cfg.Image == "" && len(args) == 0 {
		return cfg, errors.New("no command given")
	}
	if f.interactive {
		cfg.Stdin = os.Stdin
	}
	var err error
	if cfg.Pull, err = engine.ParsePullPolicy(f.image.pull); err != nil {
		return cfg, fmt.Errorf("--pull: %w", err)
	}
	cfg.Pulling.Display = true
	f.image.retry.set(&cfg.Pulling)
	if cmd.Flags().Changed("entrypoint") {
		cfg.Entrypoint = []string{}
		if f.image.entrypoint != "" {
			cfg.Entrypoint = []string{f.image.entrypoint}
		}
	}
	if cfg.Mounts, err = f.image.userMounts(); err != nil {
		return cfg, err
	}
	if cfg.KeepID, err = engine.ParseUserns(f.userns); err != nil {
		return cfg, fmt.Errorf("--%w", err)
	}
	if cfg.Security, cfg.Limits, err = f.security.apply(); err != nil {
		return cfg, err
	}
	cfg.Sysctl = map[string]string{}
	for _, kv := range f.sysctl {
		k, v, err := spec.ParseSysctl(kv)
		if err != nil {
			return cfg, fmt.Errorf("--sysctl: %w", err)
		}
		cfg.Sysctl[k] = v
	}
	if err := f.life.apply(cmd.Flags(), &cfg); err != nil {
		return cfg, err
	}
	cfg.Remove = f.rm
	return cfg, nil
}

// runError puts the name of the flag in front of the library's errors
// about what a flag gives, and keeps the exit status the error carries.
func runError(err error) error {
	if err == nil {
		return nil
	}
	var le *engine.LimitError
	var me *network.ModeError
	switch {
	case errors.As(err, &me):
		return fmt.Errorf("--%w", err) // "--network ..."
	case errors.As(err, &le):
		flag := map[string]string{"memory": "memory", "cpu": "cpus"}[le.Limit]
		return fmt.Errorf("--%s needs a delegated cgroup v2 %s controller: %s (--cgroups=disabled runs without the limit)", flag, le.Limit, le.Reason)
	}
	return codeError{engine.ExitCode(err), err}
}

// openEngine opens the engine the global flags describe.
func openEngine(g *globals) (*engine.Engine, error) {
	opts := []engine.Option{
		engine.WithRoot(g.root), engine.WithRunRoot(g.runRoot),
		engine.WithWarnings(func(msg string) { fmt.Fprintf(os.Stderr, "WARN: %s\n", msg) }),
	}
	switch g.storageDriver {
	case "overlay", "":
	case "vfs":
		opts = append(opts, engine.WithStorageDriver(engine.StorageVFS))
	default:
		return nil, fmt.Errorf("--storage-driver %q: want overlay or vfs", g.storageDriver)
	}
	for _, o := range g.storageOpts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "overlay.mount_program", "mount_program":
			if v == "" {
				return nil, errors.New("--storage-opt overlay.mount_program: no program given")
			}
			if g.storageDriver != "vfs" {
				opts = append(opts, engine.WithMountProgram(v))
			}
		default:
			return nil, fmt.Errorf("--storage-opt %q: unknown option", o)
		}
	}
	e, err := engine.Open(opts...)
	if err != nil {
		return nil, fmt.Errorf("--storage-opt: %w", err)
	}
	return e, nil
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
