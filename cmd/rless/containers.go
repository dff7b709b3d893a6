package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// containerCommands are the commands that manage containers, at the top
// level and under `rless container`.
func containerCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newCreateCmd(g), newStartCmd(g), newStopCmd(g), newKillCmd(g), newRmCmd(g),
		newWaitCmd(g), newRestartCmd(g), newLogsCmd(g), newExecCmd(g), newAttachCmd(g),
		newRenameCmd(g), newPauseCmd(g, true), newPauseCmd(g, false), newTopCmd(g), newCpCmd(g),
	}
}

// forEach loads each container of refs and calls f with it, printing what
// f returns to print; the first error is the command's (the others are
// printed), as podman does.
func forEach(g *globals, refs []string, f func(c *engine.Container, ref string) (string, error)) error {
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range refs {
		c, err := e.Load(ref)
		if err == nil {
			var out string
			if out, err = f(c, ref); err == nil && out != "" {
				fmt.Println(out)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	for _, err := range errs[:len(errs)-1] {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	}
	return errs[len(errs)-1]
}

// allOrArgs returns the containers --all means (those that pass keep),
// else args.
func allOrArgs(g *globals, all bool, args []string, keep func(engine.ContainerInfo) bool) ([]string, error) {
	if !all {
		if len(args) == 0 {
			return nil, errors.New("give at least one container (or --all)")
		}
		return args, nil
	}
	if len(args) > 0 {
		return nil, errors.New("--all and containers given together")
	}
	e, err := openEngine(g)
	if err != nil {
		return nil, err
	}
	infos, err := e.Containers(context.Background())
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, i := range infos {
		if keep == nil || keep(i) {
			ids = append(ids, i.ID)
		}
	}
	return ids, nil
}

func newCreateCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "create [flags] IMAGE|--rootfs DIR [COMMAND [ARG...]]",
		Short: "Create a container, to start later",
		Long: `Create a detached container without starting it (see rless start), and
print its id. It takes run's flags, but -d and --detach-keys.`,
		Args: cobra.ArbitraryArgs,
	}
	cmd.Flags().SetInterspersed(false)
	registerRunFlags(cmd, f, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := f.config(cmd, args)
		if err != nil {
			return err
		}
		e, err := openEngine(g)
		if err != nil {
			return err
		}
		c, err := createDetached(cmd, e, f, cfg)
		if err != nil {
			return err
		}
		fmt.Println(c.ID())
		return nil
	}
	return cmd
}

func newStartCmd(g *globals) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "start [flags] CONTAINER [CONTAINER...]",
		Short: "Start created or stopped containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if attach && len(args) > 1 {
				return errors.New("you cannot start and attach multiple containers at once")
			}
			if attach {
				return startAttached(cmd.Context(), g, args[0], interactive, detachKeys)
			}
			return forEach(g, args, func(c *engine.Container, ref string) (string, error) {
				return ref, runError(c.Start(cmd.Context()))
			})
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "attach to the container's output (and input with -i)")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "pass standard input to the container")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", engine.DefaultDetachKeys, "keys that detach from the container")
	return cmd
}

// startAttached starts container ref and attaches to it.
func startAttached(ctx context.Context, g *globals, ref string, interactive bool, detachKeys string) error {
	c, err := loadContainer(g, ref)
	if err != nil {
		return err
	}
	return attachTo(ctx, c, interactive, detachKeys, true)
}

func newStopCmd(g *globals) *cobra.Command {
	var all bool
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [flags] CONTAINER [CONTAINER...]",
		Short: "Stop containers: their stop signal, then SIGKILL after the timeout",
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := allOrArgs(g, all, args, func(i engine.ContainerInfo) bool { return i.Status == engine.Running })
			if err != nil {
				return err
			}
			return forEach(g, refs, func(c *engine.Container, ref string) (string, error) {
				t := time.Duration(timeout) * time.Second
				if !cmd.Flags().Changed("time") {
					t = 0 // the container's own
				} else if timeout == 0 {
					t = time.Nanosecond
				}
				return ref, c.Stop(cmd.Context(), t)
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "stop all running containers")
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	return cmd
}

func newKillCmd(g *globals) *cobra.Command {
	var all bool
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [flags] CONTAINER [CONTAINER...]",
		Short: "Send a signal to containers (default SIGKILL)",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := parseSignal(sig)
			if err != nil {
				return err
			}
			refs, err := allOrArgs(g, all, args, func(i engine.ContainerInfo) bool { return i.Status == engine.Running })
			if err != nil {
				return err
			}
			return forEach(g, refs, func(c *engine.Container, ref string) (string, error) {
				return ref, c.Signal(s)
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "signal all running containers")
	cmd.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send (a name or number)")
	return cmd
}

// parseSignal parses a signal name (with or without SIG) or number.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	if sig, err := signalByName(s); err == nil {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal: %s", s)
}

func newRmCmd(g *globals) *cobra.Command {
	var all, force, volumes, ignore bool
	var timeout int
	cmd := &cobra.Command{
		Use:   "rm [flags] CONTAINER [CONTAINER...]",
		Short: "Remove containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := allOrArgs(g, all, args, nil)
			if err != nil {
				return err
			}
			err = forEach(g, refs, func(c *engine.Container, ref string) (string, error) {
				if force && cmd.Flags().Changed("time") && timeout > 0 {
					_ = c.Stop(cmd.Context(), time.Duration(timeout)*time.Second)
				}
				if err := c.Delete(cmd.Context(), force); err != nil {
					return "", err
				}
				return ref, nil
			})
			switch {
			case err == nil:
				return nil
			case errors.Is(err, engine.ErrNotExist):
				if ignore {
					return nil
				}
				return codeError{1, err}
			case errors.Is(err, engine.ErrRunning):
				return codeError{2, err}
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all containers")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove running containers too (they are killed)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove anonymous volumes (rless makes none: accepted for podman's sake)")
	cmd.Flags().BoolVarP(&ignore, "ignore", "i", false, "ignore containers that do not exist")
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "with -f, seconds to wait for a graceful stop first")
	return cmd
}

func newWaitCmd(g *globals) *cobra.Command {
	var conditions []string
	cmd := &cobra.Command{
		Use:   "wait [flags] CONTAINER [CONTAINER...]",
		Short: "Wait for containers to stop and print their exit status",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			want := engine.Stopped
			for _, c := range conditions {
				switch c {
				case "stopped", "exited":
				case "running":
					want = engine.Running
				case "created", "configured":
					want = engine.Created
				default:
					return fmt.Errorf("--condition %q: want stopped, exited, running or created", c)
				}
			}
			return forEach(g, args, func(c *engine.Container, ref string) (string, error) {
				if want != engine.Stopped {
					for {
						info, err := c.Info()
						if err != nil {
							return "", err
						}
						if info.Status == want {
							return "-1", nil
						}
						select {
						case <-cmd.Context().Done():
							return "", cmd.Context().Err()
						case <-time.After(50 * time.Millisecond):
						}
					}
				}
				code, err := c.Wait(cmd.Context())
				return strconv.Itoa(code), err
			})
		},
	}
	stringsVar(cmd.Flags(), &conditions, "condition", "", "state to wait for: stopped (the default), exited, running or created", true)
	return cmd
}

func newRestartCmd(g *globals) *cobra.Command {
	var timeout int
	var all bool
	cmd := &cobra.Command{
		Use:   "restart [flags] CONTAINER [CONTAINER...]",
		Short: "Stop containers, then start them again",
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := allOrArgs(g, all, args, func(i engine.ContainerInfo) bool { return i.Detached })
			if err != nil {
				return err
			}
			return forEach(g, refs, func(c *engine.Container, ref string) (string, error) {
				if !c.Detached() {
					return "", fmt.Errorf("container %s runs in the foreground: only its creator can start it again", ref)
				}
				t := time.Duration(0)
				if cmd.Flags().Changed("time") {
					t = max(time.Duration(timeout)*time.Second, time.Nanosecond)
				}
				if err := c.Stop(cmd.Context(), t); err != nil {
					return "", err
				}
				return ref, runError(c.Start(cmd.Context()))
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "restart all containers")
	return cmd
}

func newLogsCmd(g *globals) *cobra.Command {
	var o engine.LogOptions
	var since, until string
	var names bool
	cmd := &cobra.Command{
		Use:   "logs [flags] CONTAINER [CONTAINER...]",
		Short: "Show the output of detached containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Since, err = parseTime(since); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if o.Until, err = parseTime(until); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return forEach(g, args, func(c *engine.Container, ref string) (string, error) {
				stdout, stderr := os.Stdout, os.Stderr
				if len(args) > 1 || names {
					prefix := c.ID()[:12]
					if names && c.Name() != "" {
						prefix = c.Name()
					}
					pw, pe := prefixWriter(os.Stdout, prefix+" "), prefixWriter(os.Stderr, prefix+" ")
					err := c.Logs(ctx, o, pw, pe)
					return "", err
				}
				err := c.Logs(ctx, o, stdout, stderr)
				if ctx.Err() != nil && cmd.Context().Err() == nil {
					err = nil // interrupted while following
				}
				return "", err
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.Follow, "follow", "f", false, "follow the log until the container ends")
	fl.IntVar(&o.Tail, "tail", -1, "show only the last N lines (-1: all)")
	fl.StringVar(&since, "since", "", "show lines since a time (RFC 3339, a Unix time, or a duration back from now as 10m)")
	fl.StringVar(&until, "until", "", "show lines until a time (as --since)")
	fl.BoolVarP(&o.Timestamps, "timestamps", "t", false, "show each line's time")
	fl.BoolVarP(&names, "names", "n", false, "prefix each line with its container's name")
	return cmd
}

// parseTime parses podman's --since/--until: RFC 3339 (or a date), Unix
// seconds, or a duration back from now; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		sec := int64(n)
		return time.Unix(sec, int64((n-float64(sec))*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want a time (RFC 3339), Unix seconds or a duration", s)
}

func newAttachCmd(g *globals) *cobra.Command {
	var noStdin bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [flags] CONTAINER",
		Short: "Attach to a running detached container's terminal or output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(g, args[0])
			if err != nil {
				return err
			}
			return attachTo(cmd.Context(), c, !noStdin, detachKeys, false)
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not pass standard input")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", engine.DefaultDetachKeys, "keys that detach from the container")
	cmd.Flags().Bool("sig-proxy", true, "accepted for podman's sake: signals are not passed on")
	return cmd
}

// attachTo attaches the terminal or standard streams to c, until it ends
// (exiting with its status) or the detach keys are typed. With start, it
// starts c too (attached from its first output on: StartAttached) and
// passes on the signals rless gets (--sig-proxy).
func attachTo(ctx context.Context, c *engine.Container, stdin bool, detachKeys string, start bool) error {
	_, err := attachDetachable(ctx, c, stdin, detachKeys, start)
	return err
}

// attachDetachable is attachTo that also says whether the detach keys
// ended it.
func attachDetachable(ctx context.Context, c *engine.Container, stdin bool, detachKeys string, start bool) (bool, error) {
	keys, err := engine.ParseDetachKeys(detachKeys)
	if err != nil {
		return false, err
	}
	info, err := c.Info()
	if err != nil {
		return false, err
	}
	o := engine.AttachOptions{Stdout: os.Stdout, Stderr: os.Stderr, DetachKeys: keys}
	if stdin && info.Config.Interactive {
		o.Stdin = os.Stdin
	}
	fd := int(os.Stdin.Fd())
	if info.Config.Terminal && term.IsTerminal(fd) {
		if old, err := term.MakeRaw(fd); err == nil {
			defer term.Restore(fd, old)
		}
		sizes := make(chan [2]uint16, 1)
		send := func() {
			if w, h, err := term.GetSize(fd); err == nil {
				select {
				case sizes <- [2]uint16{uint16(h), uint16(w)}:
				default:
				}
			}
		}
		send()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				send()
			}
		}()
		o.Resize = sizes
	}
	var code int
	if start {
		if w, h, err := term.GetSize(fd); err == nil && info.Config.Terminal {
			o.Size = [2]uint16{uint16(h), uint16(w)}
		}
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
		defer signal.Stop(sigs)
		go func() {
			for sig := range sigs {
				_ = c.Signal(sig.(syscall.Signal))
			}
		}()
		code, err = c.StartAttached(ctx, o)
	} else {
		code, err = c.Attach(ctx, o)
	}
	if errors.Is(err, engine.ErrDetached) {
		fmt.Fprintln(os.Stderr)
		return true, nil
	}
	if err != nil {
		return false, runError(err)
	}
	if code != 0 {
		return false, exitError{code}
	}
	return false, nil
}

func newRenameCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NAME",
		Short: "Rename a container",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(g, args[0])
			if err != nil {
				return err
			}
			return c.Rename(args[1])
		},
	}
}

func newPauseCmd(g *globals, pause bool) *cobra.Command {
	use, short := "pause", "Pause the processes of containers"
	if !pause {
		use, short = "unpause", "Resume paused containers"
	}
	var all bool
	cmd := &cobra.Command{
		Use:   use + " [flags] CONTAINER [CONTAINER...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := allOrArgs(g, all, args, func(i engine.ContainerInfo) bool { return i.Status == engine.Running })
			if err != nil {
				return err
			}
			return forEach(g, refs, func(c *engine.Container, ref string) (string, error) {
				return ref, c.Freeze(pause)
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, use+" all running containers")
	return cmd
}

func newTopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER",
		Short: "Show the processes of a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(g, args[0])
			if err != nil {
				return err
			}
			procs, err := c.Top()
			if err != nil {
				return err
			}
			return printTop(procs)
		},
	}
}

func newCpCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cp [flags] SRC DEST",
		Short: "Copy files between a running container and the host",
		Long: `Copy files between a running container and the host: CONTAINER:PATH to a
host path, or a host path to CONTAINER:PATH, as podman cp. Files copied in
belong to the container's root; files copied out to you.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCp(cmd.Context(), g, args[0], args[1])
		},
	}
}

// loadContainer opens the engine and loads the container ref names.
func loadContainer(g *globals, ref string) (*engine.Container, error) {
	e, err := openEngine(g)
	if err != nil {
		return nil, err
	}
	return e.Load(ref)
}
