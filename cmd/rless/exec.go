package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

func newExecCmd(g *globals) *cobra.Command {
	var interactive, tty, detach, privileged bool
	var env, envFiles []string
	var user, workdir, detachKeys string
	cmd := &cobra.Command{
		Use:   "exec [flags] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Long: `Run a command in a running container: in all of its namespaces, with its
user (or -u), capabilities, seccomp filter, no_new_privs, limits,
environment (with -e over it) and working directory (or -w). The exit status
is the command's, 125 when rless fails, 126 when the command cannot be
executed and 127 when it is not found.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(g, args[0])
			if err != nil {
				return err
			}
			var fileEnv []string
			for _, p := range envFiles {
				fe, err := readEnvFile(p)
				if err != nil {
					return fmt.Errorf("--env-file: %w", err)
				}
				fileEnv = append(fileEnv, fe...)
			}
			p := engine.Process{
				Args: args[1:], Env: append(fileEnv, hostEnv(env)...), User: user, Workdir: workdir,
				Terminal: tty, Privileged: privileged,
			}
			if !detach {
				p.Stdout, p.Stderr = os.Stdout, os.Stderr
				if interactive {
					p.Stdin = os.Stdin
				}
			}
			fd := int(os.Stdin.Fd())
			raw := tty && interactive && !detach && term.IsTerminal(fd)
			defer rawInput(raw)()
			proc, err := c.Exec(cmd.Context(), p)
			if err != nil {
				if errors.Is(err, engine.ErrNotRunning) {
					return codeError{125, errors.New("can only create exec sessions on running containers: container state improper")}
				}
				return runError(err)
			}
			if detach {
				if err := proc.Release(); err != nil {
					return err
				}
				return nil
			}
			code, err := waitExec(proc, raw, false)
			if err != nil {
				return runError(err)
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.BoolVarP(&interactive, "interactive", "i", false, "pass standard input to the command")
	fl.BoolVarP(&tty, "tty", "t", false, "give the command a pseudo-terminal")
	fl.BoolVarP(&detach, "detach", "d", false, "run the command in the background")
	fl.BoolVar(&privileged, "privileged", false, "give the command every capability of the container's user namespace and no seccomp filter")
	stringsVar(fl, &env, "env", "e", "set an environment variable (NAME=VALUE, or NAME to take it from the host)", false)
	stringsVar(fl, &envFiles, "env-file", "", "read environment variables from a file", false)
	fl.StringVarP(&user, "user", "u", "", "user[:group] to run as, as names or numbers")
	fl.StringVarP(&workdir, "workdir", "w", "", "working directory of the command")
	fl.StringVar(&detachKeys, "detach-keys", engine.DefaultDetachKeys, "accepted for podman's sake")
	return cmd
}

// resizeTerminal sets the size of terminal t.
func resizeTerminal(t *os.File, rows, cols int) error {
	return unix.IoctlSetWinsize(int(t.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)})
}

// rawInput puts the terminal of rless's standard input in raw mode when
// raw, and returns what restores it. Callers make it raw before the process
// starts: what the process writes at once must not pass through this
// terminal's line discipline too (doubled carriage returns, the input
// echoed twice).
func rawInput(raw bool) (restore func()) {
	fd := int(os.Stdin.Fd())
	if raw {
		if old, err := term.MakeRaw(fd); err == nil {
			return func() { _ = term.Restore(fd, old) }
		}
	}
	return func() {}
}

// waitExec waits for proc, a process Exec started, and returns its exit
// status. With raw (the terminal of rless's standard input made raw by
// rawInput), the size of proc's terminal follows it; with proxy, SIGINT,
// SIGTERM, SIGHUP and SIGQUIT that rless gets go to proc.
func waitExec(proc *engine.ExecProcess, raw, proxy bool) (int, error) {
	fd := int(os.Stdin.Fd())
	if raw {
		if t := proc.Terminal(); t != nil {
			if w, h, err := term.GetSize(fd); err == nil {
				_ = resizeTerminal(t, h, w)
			}
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, syscall.SIGWINCH)
			defer signal.Stop(winch)
			go func() {
				for range winch {
					if w, h, err := term.GetSize(fd); err == nil {
						_ = resizeTerminal(t, h, w)
					}
				}
			}()
		}
	}
	if proxy {
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		defer signal.Stop(sigs)
		go func() {
			for sig := range sigs {
				_ = proc.Signal(sig.(syscall.Signal))
			}
		}()
	}
	return proc.Wait()
}
