package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rless/rless/pkg/sandbox"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type sandboxFlags struct {
	p            sandbox.Profile
	profile      string
	printProfile bool
	stop         bool
}

func newSandboxCmd(g *globals) *cobra.Command {
	f := &sandboxFlags{}
	cmd := &cobra.Command{
		Use:   "sandbox [flags] [-- COMMAND [ARG...]]",
		Short: "Run a command in a sandbox of the project: it can change the project and nothing else",
		Long: `Run a command (default: your shell) in a sandbox of a project directory
(default: the current one), for tools you do not trust: an npm install, a
build script from the internet, a coding agent. No image is needed.

Files: the host's root is read-only (or an image's, with --image); the
project is read-write at its own path; $HOME is an empty private directory,
kept per project in rless's store (--ephemeral: one that goes at the end);
/tmp, /var/tmp, /run, /home, /mnt and /media are private, so no other
user's files and no D-Bus, ssh-agent, X11 or Wayland socket show;
~/.gitconfig is shared read-only when it exists. --ro and --rw share more.
In the project, paths that run code later are read-only unless
--allow-write names them: .git/hooks, .git/config, .git/info,
.git/modules, .gitmodules, .husky, .envrc, .vscode, .idea, .devcontainer,
.rless and .pre-commit-config.yaml (missing ones are made empty for the
sandbox's time, so that nothing can create them).

Network: --network allowlist (the default) connects only to the --allow
entries, HOST[:PORT] with HOST a name ("*.example.com": its subdomains), an
IP or a CIDR, enforced on every packet by rless's own network stack: a name
is resolved only when allowed, a connection goes only to the addresses its
answers gave (and its TLS SNI or HTTP Host must agree), private, link-local
and metadata addresses and the host's loopback only when allowed literally
(host.containers.internal:PORT is the host's loopback). Refused attempts
are logged to a file (--log; default refused.log in the sandbox's
directory) and counted at the end. --network none has no network, full the
built-in network without limits.

Environment: only PATH, HOME, USER, LOGNAME, SHELL, TERM, COLORTERM, LANG,
LANGUAGE, LC_*, TZ, EDITOR and VISUAL pass, with what --env sets and
--pass-env names: tokens and keys stay out.

With --keep-running the command runs in the project's kept sandbox
(started by the first such command): what it leaves running in the
background, a development server say, goes on, and the next
--keep-running command of the project runs beside it (with the same
settings; other settings need the kept sandbox ended first). rless
sandbox --stop ends it: its processes get SIGTERM, then SIGKILL after 10
seconds. rless ps lists it as sandbox-<project>-<digits>.

The settings can live in the project's .rless/sandbox.toml (or --profile
FILE), keys as the flags' names with "_" for "-" (allow, resolver, ro, rw,
allow_write, env, pass_env, cache, network, image, ephemeral, ssh_agent,
display, gpu, log, keep_running, command); flags add to it.
--print-profile shows the effective profile. The exit status is the command's, 125 when rless fails.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSandbox(cmd, g, f, args)
		},
	}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.StringVar(&f.p.Project, "project", "", "the project directory (default: the current one)")
	fl.StringVar(&f.p.Image, "image", "", "use `IMAGE`'s root instead of the host's")
	fl.StringVar(&f.p.Network, "network", "", "allowlist (default), none or full")
	stringsVar(fl, &f.p.Allow, "allow", "", "let the allowlist network connect to `HOST[:PORT]` (a name, *.name, an IP or a CIDR)", false)
	stringsVar(fl, &f.p.Resolver, "resolver", "", "send the sandbox's DNS queries to `IP[:PORT]` (default: the host's resolvers)", false)
	stringsVar(fl, &f.p.RO, "ro", "", "share host `PATH` read-only", false)
	stringsVar(fl, &f.p.RW, "rw", "", "share host `PATH` read-write", false)
	stringsVar(fl, &f.p.AllowWrite, "allow-write", "", "keep protected project `PATH` (relative to the project) writable", false)
	stringsVar(fl, &f.p.Env, "env", "e", "set `NAME=VALUE` in the environment", false)
	stringsVar(fl, &f.p.PassEnv, "pass-env", "", "pass host variable `NAME`", false)
	stringsVar(fl, &f.p.Cache, "cache", "", "keep a package cache in a named volume: npm, pip, cargo, go or `NAME:PATH`", false)
	fl.BoolVar(&f.p.Ephemeral, "ephemeral", false, "a home that goes when the sandbox ends (default: kept per project)")
	fl.BoolVar(&f.p.SSHAgent, "ssh-agent", false, "share the host's ssh-agent ($SSH_AUTH_SOCK)")
	fl.BoolVar(&f.p.Display, "display", false, "share the X11 and Wayland display sockets")
	fl.BoolVar(&f.p.GPU, "gpu", false, "share /dev/dri")
	fl.StringVar(&f.p.Log, "log", "", "append refused network attempts to `FILE`")
	fl.StringVar(&f.profile, "profile", "", "read the settings from `FILE` (default: the project's "+sandbox.ProfileFile+" when it exists)")
	fl.BoolVar(&f.printProfile, "print-profile", false, "print the effective profile and exit")
	fl.BoolVar(&f.p.KeepRunning, "keep-running", false, "run the command in the project's kept sandbox, whose background processes outlive it")
	fl.BoolVar(&f.stop, "stop", false, "end the project's kept sandbox and exit")
	return cmd
}

func runSandbox(cmd *cobra.Command, g *globals, f *sandboxFlags, args []string) error {
	flags := f.p
	flags.Command = args
	p, err := f.load(flags)
	if err != nil {
		return err
	}
	if f.printProfile {
		if err := p.Check(); err != nil {
			return err
		}
		data, err := p.Encode()
		if err != nil {
			return err
		}
		os.Stdout.Write(data)
		return nil
	}
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	if f.stop {
		if len(args) > 0 {
			return codeError{125, errors.New("--stop takes no command")}
		}
		if err := sandbox.Stop(cmd.Context(), e, p.Project); err != nil {
			return runError(err)
		}
		return nil
	}
	s, err := sandbox.New(e, p)
	if err != nil {
		return runError(err)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(os.Stderr, "rless sandbox: %s\n", n)
	}
	c := &s.Config
	c.Stdin, c.Stdout, c.Stderr, c.ProxySignals = os.Stdin, os.Stdout, os.Stderr, true
	c.Terminal = term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
	var code int
	if s.Kept != "" {
		code, err = runKept(cmd.Context(), s)
	} else {
		code, err = s.Run(cmd.Context())
	}
	if n := s.Refused(); n > 0 {
		fmt.Fprintf(os.Stderr, "rless sandbox: %d network attempt(s) refused, see %s\n", n, s.Log)
	}
	if err != nil {
		return runError(err)
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// load returns the profile: the file's (--profile, else the project's
// when it has one) with the flags over it.
func (f *sandboxFlags) load(flags sandbox.Profile) (sandbox.Profile, error) {
	path := f.profile
	if path == "" {
		project := flags.Project
		if project == "" {
			project = "."
		}
		path = filepath.Join(project, sandbox.ProfileFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return flags, nil
		}
	}
	p, err := sandbox.LoadProfile(path)
	if err != nil {
		return p, err
	}
	return p.Merge(flags), nil
}

// runKept runs the sandbox's command in its kept sandbox, as rless exec
// does (a raw terminal, or signals passed on), and returns its status.
func runKept(ctx context.Context, s *sandbox.Sandbox) (int, error) {
	defer s.Close()
	defer rawInput(s.Config.Terminal)()
	proc, err := s.Exec(ctx)
	if err != nil {
		return -1, err
	}
	return waitExec(proc, s.Config.Terminal, !s.Config.Terminal)
}
