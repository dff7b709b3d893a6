package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/oci"
	"github.com/rless/rless/pkg/spec"
	"github.com/spf13/cobra"
)

// runtimeNames are the program names under which rless is the OCI runtime
// itself (engines call a runtime by path: a link named so).
var runtimeNames = []string{"runc", "rless-runtime"}

// ociGlobals are runc's global flags.
type ociGlobals struct {
	root, log, logFormat string
	debug, systemdCgroup bool
	rootless             string
	rt                   oci.Runtime
}

// fail is a failed runtime command: runc's exit status 1, the error
// logged to --log as well.
func (g *ociGlobals) fail(err error) error {
	if err == nil {
		return nil
	}
	if g.log != "" {
		slog.Error(err.Error())
	}
	return codeError{code: 1, err: err}
}

func newOCICmd() *cobra.Command {
	oci.Version = version
	g := &ociGlobals{}
	cmd := &cobra.Command{
		Use:   "oci",
		Short: "The OCI runtime: runc's command line, for engines (podman --runtime, containerd, CRI-O)",
		Long: `The OCI runtime: runc's command line over rless's runtime, for engines that
call a runtime binary. rless is also this runtime when invoked through a link
named runc or rless-runtime.`,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.setup()
		},
	}
	pf := cmd.PersistentFlags()
	// The default is found when an oci command runs (setup), not each
	// time rless builds its commands.
	pf.StringVar(&g.root, "root", "", "root directory for the state of containers (default $XDG_RUNTIME_DIR/rless-runc, else /run/rless-runc for root, else /tmp/rless-runc-UID)")
	pf.StringVar(&g.log, "log", "", "log file (default: standard error)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.BoolVar(&g.debug, "debug", false, "log debug output")
	pf.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "use systemd to manage cgroups (not supported: refused)")
	pf.StringVar(&g.rootless, "rootless", "auto", "rootless mode: auto, true or false (rless is always rootless-capable; accepted for compatibility)")
	cmd.AddCommand(ociCreateCmd(g), ociStartCmd(g), ociRunCmd(g), ociStateCmd(g), ociKillCmd(g), ociDeleteCmd(g),
		ociExecCmd(g), ociExecProxyCmd(g), ociPsCmd(g), ociListCmd(g), ociPauseCmd(g, "pause"), ociPauseCmd(g, "resume"),
		ociUpdateCmd(g), ociSpecCmd(g), ociFeaturesCmd(g), ociVersionCmd())
	return cmd
}

// setup applies the global flags.
func (g *ociGlobals) setup() error {
	if g.root == "" {
		g.root = oci.DefaultRoot()
	}
	g.rt.Root = g.root
	lvl := slog.LevelWarn
	if g.debug {
		lvl = slog.LevelDebug
	}
	var w io.Writer = os.Stderr
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		w = f
	}
	// Levels in lower case, as runc's (engines read its JSON log for the
	// last "error").
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey {
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
		}
		return a
	}}
	switch g.logFormat {
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(w, opts)))
	case "text":
		if g.log != "" || g.debug {
			slog.SetDefault(slog.New(slog.NewTextHandler(w, opts)))
		}
	default:
		return fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
	if g.systemdCgroup {
		return g.fail(errors.New("--systemd-cgroup is not supported: rless manages no cgroups through systemd (use cgroupfs)"))
	}
	switch g.rootless {
	case "auto", "true", "false":
	default:
		return fmt.Errorf("--rootless %q: want auto, true or false", g.rootless)
	}
	return nil
}

func oneID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%q requires exactly 1 argument: the container id", cmd.CommandPath())
	}
	return nil
}

type ociCreateFlags struct {
	bundle, pidFile, consoleSocket string
	noPivot, noNewKeyring          bool
	preserveFDs                    int
}

func (f *ociCreateFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.bundle, "bundle", "b", "", "path to the bundle directory (default: the current directory)")
	fl.StringVar(&f.pidFile, "pid-file", "", "write the container's pid to this file")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket to send the pseudo-terminal's master to")
	fl.BoolVar(&f.noPivot, "no-pivot", false, "accepted for compatibility (rless always pivots into the root)")
	fl.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "accepted for compatibility (the process always gets a session keyring of its own)")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many descriptors after 3 to the container (not supported: refused)")
}

func (f *ociCreateFlags) options(id string) (oci.CreateOptions, error) {
	if f.preserveFDs > 0 || os.Getenv("LISTEN_FDS") != "" {
		return oci.CreateOptions{}, errors.New("--preserve-fds and LISTEN_FDS are not supported")
	}
	return oci.CreateOptions{
		ID: id, Bundle: f.bundle, PidFile: f.pidFile, ConsoleSocket: f.consoleSocket,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}, nil
}

func ociCreateCmd(g *ociGlobals) *cobra.Command {
	f := &ociCreateFlags{}
	cmd := &cobra.Command{
		Use:   "create [flags] ID",
		Short: "Create a container from a bundle; it waits for start",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(args[0])
			if err != nil {
				return g.fail(err)
			}
			_, err = g.rt.Create(cmd.Context(), o)
			return g.fail(err)
		},
	}
	f.add(cmd)
	return cmd
}

func ociStartCmd(g *ociGlobals) *cobra.Command {
	return &cobra.Command{
		Use:   "start ID",
		Short: "Start a created container's process",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.fail(g.rt.Start(cmd.Context(), args[0]))
		},
	}
}

func ociRunCmd(g *ociGlobals) *cobra.Command {
	f := &ociCreateFlags{}
	var detach, keep bool
	cmd := &cobra.Command{
		Use:   "run [flags] ID",
		Short: "Create and start a container; without -d, wait for it and exit with its status",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(args[0])
			if err != nil {
				return g.fail(err)
			}
			ctx := cmd.Context()
			c, err := g.rt.Create(ctx, o)
			if err != nil {
				return g.fail(err)
			}
			if detach {
				return g.fail(c.Start(ctx))
			}
			sigs := make(chan os.Signal, 16)
			signal.Notify(sigs)
			go func() {
				for sig := range sigs {
					if s, ok := sig.(syscall.Signal); ok && s != syscall.SIGCHLD && s != syscall.SIGURG && s != syscall.SIGPIPE {
						_ = c.Signal(s)
					}
				}
			}()
			if err := c.Start(ctx); err != nil {
				_ = c.Delete(context.Background(), true)
				return g.fail(err)
			}
			code, err := c.Wait(context.Background())
			if !keep {
				_ = c.Delete(context.Background(), true)
			}
			if err != nil {
				return g.fail(err)
			}
			return exitError{code: code}
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	cmd.Flags().BoolVar(&keep, "keep", false, "do not delete the container after it exits")
	return cmd
}

func ociStateCmd(g *ociGlobals) *cobra.Command {
	return &cobra.Command{
		Use:   "state ID",
		Short: "Print a container's state (JSON)",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.rt.State(args[0])
			if err != nil {
				return g.fail(err)
			}
			return printRuncJSON(cmd.OutOrStdout(), st)
		},
	}
}

// printRuncJSON prints v as runc does: indented by two spaces.
func printRuncJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func ociKillCmd(g *ociGlobals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [flags] ID [SIGNAL]",
		Short: "Send a signal to a container's process (default SIGTERM)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := syscall.SIGTERM
			if len(args) == 2 {
				s, err := spec.ParseSignal(args[1])
				if err != nil {
					return g.fail(err)
				}
				sig = s
			}
			return g.fail(g.rt.Kill(args[0], sig, all))
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "send the signal to every process of the container")
	return cmd
}

func ociDeleteCmd(g *ociGlobals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [flags] ID",
		Short: "Delete a stopped container (with --force, a running one)",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.fail(g.rt.Delete(cmd.Context(), args[0], force))
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container first if it runs")
	return cmd
}

type ociExecFlags struct {
	oci.ExecOptions
	detach  bool
	pidFile string
}

func ociExecCmd(g *ociGlobals) *cobra.Command {
	f := &ociExecFlags{}
	cmd := &cobra.Command{
		Use:   "exec [flags] ID [COMMAND [ARG...]]",
		Short: "Run a process in a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.ID, f.Args = args[0], args[1:]
			if f.detach {
				pid, err := startExecProxy(g, f.ExecOptions)
				if err == nil && f.pidFile != "" {
					err = oci.WritePidFile(f.pidFile, pid)
				}
				return g.fail(err)
			}
			return runExec(g, f.ExecOptions, f.pidFile, nil)
		},
	}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.StringVarP(&f.ProcessFile, "process", "p", "", "path to a process.json")
	fl.BoolVarP(&f.detach, "detach", "d", false, "detach from the process")
	fl.BoolVarP(&f.Terminal, "tty", "t", false, "give the process a pseudo-terminal")
	fl.StringVar(&f.pidFile, "pid-file", "", "write the process's pid to this file")
	fl.StringVar(&f.Cwd, "cwd", "", "working directory in the container")
	stringsVar(fl, &f.Env, "env", "e", "set an environment variable (KEY=VALUE)", false)
	fl.StringVarP(&f.User, "user", "u", "", "UID[:GID] of the process")
	stringsVar(fl, &f.Caps, "cap", "c", "add a capability", false)
	fl.StringVar(&f.ConsoleSocket, "console-socket", "", "unix socket to send the pseudo-terminal's master to")
	return cmd
}

// proxyEnv carries a detached exec's options to its proxy process.
const proxyEnv = "_RLESS_OCI_EXEC"

// startExecProxy starts the process of a detached exec from a proxy: a
// copy of rless that starts it, says so on its descriptor 3 and then
// stands for it (its exit status is the process's, the signals it gets go
// to the process) for the engine, which reaps the pid this returns.
func startExecProxy(g *ociGlobals, o oci.ExecOptions) (int, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	args := []string{"rless", "oci", "--root", g.root, "--log-format", g.logFormat}
	if g.log != "" {
		args = append(args, "--log", g.log)
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe", Args: append(args, "exec-proxy"),
		Env:   append(os.Environ(), proxyEnv+"="+string(b)),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		ExtraFiles: []*os.File{w},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, err
	}
	msg, _ := io.ReadAll(r)
	if string(msg) != "ok" {
		_ = cmd.Wait()
		if len(msg) == 0 {
			msg = []byte("exec: the process did not start")
		}
		return 0, errors.New(string(msg))
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return pid, nil
}

func ociExecProxyCmd(g *ociGlobals) *cobra.Command {
	return &cobra.Command{
		Use:    "exec-proxy",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var o oci.ExecOptions
			if err := json.Unmarshal([]byte(os.Getenv(proxyEnv)), &o); err != nil {
				return g.fail(fmt.Errorf("exec proxy: %w", err))
			}
			os.Unsetenv(proxyEnv)
			ready := os.NewFile(3, "ready")
			return runExec(g, o, "", ready)
		},
	}
}

// runExec starts the process o describes and stands for it until it
// ends: signals go to it, and the exit status is its. ready, if not nil,
// gets "ok" or the error once the process has started or failed to, and
// this process's standard streams are closed then (the process has its
// own).
func runExec(g *ociGlobals, o oci.ExecOptions, pidFile string, ready *os.File) error {
	o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	p, err := g.rt.Exec(context.Background(), o)
	if err == nil && pidFile != "" {
		err = oci.WritePidFile(pidFile, p.Pid())
	}
	if ready != nil {
		msg := "ok"
		if err != nil {
			msg = err.Error()
		}
		_, _ = ready.WriteString(msg)
		ready.Close()
		if err == nil {
			detachStdio()
		}
	}
	if err != nil {
		return g.fail(err)
	}
	if t := p.Terminal(); t != nil && o.ConsoleSocket == "" {
		go func() { _, _ = io.Copy(t, os.Stdin) }()
		go func() { _, _ = io.Copy(os.Stdout, t) }()
	}
	go func() {
		for sig := range sigs {
			if s, ok := sig.(syscall.Signal); ok && s != syscall.SIGCHLD && s != syscall.SIGURG && s != syscall.SIGPIPE {
				_ = p.Signal(s)
			}
		}
	}()
	code, err := p.Wait()
	if err != nil {
		return g.fail(err)
	}
	return exitError{code: code}
}

// detachStdio points this process's standard streams at /dev/null, so
// that the engine's pipes end when the process it started ends.
func detachStdio() {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer null.Close()
	for fd := 0; fd < 3; fd++ {
		_ = syscall.Dup3(int(null.Fd()), fd, 0)
	}
}

func ociPsCmd(g *ociGlobals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [flags] ID",
		Short: "List the processes of a container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			pids, err := g.rt.Pids(args[0])
			if err != nil {
				return g.fail(err)
			}
			switch format {
			case "json":
				b, _ := json.Marshal(pids)
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			case "table":
				fmt.Fprintln(cmd.OutOrStdout(), "PID")
				for _, p := range pids {
					fmt.Fprintln(cmd.OutOrStdout(), p)
				}
			default:
				return g.fail(fmt.Errorf("--format %q: want table or json", format))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return cmd
}

func ociListCmd(g *ociGlobals) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List the containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := g.rt.List()
			if err != nil {
				return g.fail(err)
			}
			out := cmd.OutOrStdout()
			switch {
			case quiet:
				for _, st := range list {
					fmt.Fprintln(out, st.ID)
				}
			case format == "json":
				b, _ := json.Marshal(list)
				fmt.Fprintf(out, "%s\n", b)
			case format == "table":
				tw := tabwriter.NewWriter(out, 12, 1, 3, ' ', 0)
				fmt.Fprintln(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
				for _, st := range list {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle, st.Created.Format("2006-01-02T15:04:05.999999999Z"), st.Owner)
				}
				return tw.Flush()
			default:
				return g.fail(fmt.Errorf("--format %q: want table or json", format))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the ids")
	return cmd
}

func ociPauseCmd(g *ociGlobals, name string) *cobra.Command {
	return &cobra.Command{
		Use:   name + " ID",
		Short: strings.ToUpper(name[:1]) + name[1:] + " a container's processes (needs a cgroup v2 freezer)",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.rt.Load(args[0]); err != nil {
				return g.fail(err)
			}
			return g.fail(fmt.Errorf("%s: no cgroup freezer for the container: rless runs it without a cgroup of its own here", name))
		},
	}
}

func ociUpdateCmd(g *ociGlobals) *cobra.Command {
	return &cobra.Command{
		Use:                "update [flags] ID",
		Short:              "Update a container's resource limits (not supported: refused)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.fail(errors.New("update: rless cannot change the resource limits of a running container (no cgroup of its own here)"))
		},
	}
}

func ociSpecCmd(g *ociGlobals) *cobra.Command {
	var bundle string
	var rootless bool
	cmd := &cobra.Command{
		Use:   "spec [flags]",
		Short: "Write a new config.json in the bundle directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(path); err == nil {
				return g.fail(fmt.Errorf("file %s exists: remove it first", path))
			}
			b, err := json.MarshalIndent(oci.ExampleSpec(rootless), "", "\t")
			if err != nil {
				return err
			}
			return g.fail(os.WriteFile(path, append(b, '\n'), 0o666))
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "the bundle directory")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "a spec for a rootless container")
	return cmd
}

func ociFeaturesCmd(g *ociGlobals) *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "Print what the runtime supports (JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printRuncJSON(cmd.OutOrStdout(), oci.Features())
		},
	}
}

// runtimeArgs returns the arguments of the oci command when rless is
// called as an OCI runtime, and false otherwise. That is always so under a
// runtime's name (runtimeNames); under any other name (engines given
// rless's own path), when the command line is a runtime's, not rless's:
// runc's global flags that rless lacks (--log, --log-format, --debug,
// --systemd-cgroup, --rootless), a runc command that rless lacks (state,
// delete, list, spec, features, resume, update, events), create or run
// with --bundle, exec with --process, or start, kill, ps or pause of an id
// whose state the runtime's root holds.
func runtimeArgs(argv0 string, args []string) ([]string, bool) {
	oci := append([]string{"oci"}, args...)
	if slices.Contains(runtimeNames, filepath.Base(argv0)) {
		if len(args) == 1 && (args[0] == "--version" || args[0] == "-v") {
			return []string{"oci", "version"}, true
		}
		return oci, true
	}
	root := ""
	i := 0
	for ; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		switch name {
		case "--log", "--log-format", "--debug", "--systemd-cgroup", "--rootless":
			return oci, true
		case "--root":
			if !hasValue && i+1 < len(args) {
				i++
				value = args[i]
			}
			root = value
			continue
		}
		break
	}
	if i == len(args) {
		return nil, false
	}
	rest := args[i+1:]
	has := func(flags ...string) bool {
		return slices.ContainsFunc(rest, func(a string) bool {
			name, _, _ := strings.Cut(a, "=")
			return slices.Contains(flags, name)
		})
	}
	switch args[i] {
	case "state", "delete", "list", "spec", "features", "resume", "update", "events":
		return oci, true
	case "create", "run":
		if has("--bundle", "-b") {
			return oci, true
		}
	case "exec":
		if has("--process", "-p", "--console-socket") {
			return oci, true
		}
	case "start", "kill", "ps", "pause":
		for _, a := range rest {
			if strings.HasPrefix(a, "-") {
				continue
			}
			if root == "" {
				root = ociDefaultRoot()
			}
			if _, err := os.Stat(filepath.Join(root, a, "state.json")); err == nil {
				return oci, true
			}
			break
		}
	}
	return nil, false
}

// ociDefaultRoot is oci.DefaultRoot (a variable for the tests).
var ociDefaultRoot = oci.DefaultRoot

func ociVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "version",
		Hidden: true,
		Args:   cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "rless version %s\nspec: %s\n", version, specs.Version)
		},
	}
}
