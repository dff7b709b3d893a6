package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rless/rless/pkg/engine"
	"golang.org/x/sys/unix"
)

// A kept sandbox (Profile.KeepRunning) is a detached container of the
// engine, named for the project (KeptName), whose rless init runs no
// command of its own (engine.Config.Idle): each `rless sandbox
// --keep-running` runs its command in it with Exec, and what the command
// leaves running in the background (a development server, a watcher)
// goes on until Stop.

// Labels of a sandbox's container.
const (
	// LabelProject names the project directory of a sandbox's container.
	LabelProject = "io.rless.sandbox"
	// LabelSettings is, on a kept sandbox, the digest of the settings it
	// was started with: a later command runs in it only with the same.
	LabelSettings = "io.rless.sandbox.settings"
)

// KeptName returns the name of the kept sandbox of the project whose
// sandbox directory (Sandbox.Dir) is dir.
func KeptName(dir string) string {
	name := []byte("sandbox-" + filepath.Base(dir))
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			name[i] = '_'
		}
	}
	return string(name)
}

// settingsDigest is the digest of what makes a sandbox's container (its
// files, network and devices): not the command, nor the environment,
// which each Exec gives anew.
func settingsDigest(p Profile, project string) (string, error) {
	p.Project, p.Command, p.Env, p.PassEnv, p.KeepRunning = project, nil, nil, nil, false
	data, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16]), nil
}

// Process returns the sandbox's command as a process to Exec in its kept
// sandbox, with the streams and terminal of Config.
func (s *Sandbox) Process() engine.Process {
	c := &s.Config
	return engine.Process{
		Args: s.command, Env: c.Env, Workdir: c.Workdir, Terminal: c.Terminal,
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr,
	}
}

// Start returns the project's kept sandbox, running: the one that runs
// already, when it runs with this sandbox's settings, else a new one (a
// stopped one is removed first). Only for a sandbox whose profile keeps
// it running (Kept is set).
func (s *Sandbox) Start(ctx context.Context) (*engine.Container, error) {
	if s.Kept == "" {
		return nil, errors.New("this sandbox is not kept running")
	}
	// Two commands must not both make the kept sandbox.
	lock, err := lockKept(s.Dir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if c, err := s.e.Load(s.Kept); err == nil {
		info, err := c.Info()
		if err != nil {
			return nil, err
		}
		if info.Status == engine.Running {
			if info.Labels[LabelSettings] != s.Config.Labels[LabelSettings] {
				return nil, fmt.Errorf("the kept sandbox of %s runs with other settings: end it first (rless sandbox --stop)", s.Project)
			}
			return c, nil
		}
		if err := c.Delete(ctx, true); err != nil {
			return nil, fmt.Errorf("remove the stopped sandbox %s: %w", s.Kept, err)
		}
	} else if !errors.Is(err, engine.ErrNotExist) {
		return nil, err
	}
	cfg := s.Config // the command's streams and terminal are the Exec's
	cfg.Terminal, cfg.Stdin, cfg.Stdout, cfg.Stderr, cfg.ProxySignals = false, nil, nil, nil, false
	c, err := s.e.Create(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		_ = c.Delete(context.WithoutCancel(ctx), true)
		return nil, err
	}
	return c, nil
}

// Exec starts the sandbox's command (Process) in its kept sandbox,
// started first when it does not run (Start).
func (s *Sandbox) Exec(ctx context.Context) (*engine.ExecProcess, error) {
	c, err := s.Start(ctx)
	if err != nil {
		return nil, err
	}
	return c.Exec(ctx, s.Process())
}

// keptRunning reports whether the project's kept sandbox runs.
func (s *Sandbox) keptRunning() bool {
	c, err := s.e.Load(KeptName(s.Dir))
	if err != nil {
		return false
	}
	info, err := c.Info()
	return err != nil || info.Status != engine.Stopped // when unsure, it runs
}

// Stop ends the kept sandbox of project ("": the current directory) for
// engine e: the processes in it get SIGTERM, then, after the stop
// timeout, SIGKILL; its container is removed, and the empty protected
// paths sandboxes made in the project with it when no other sandbox of
// the project runs. It fails, wrapping engine.ErrNotExist, when the
// project has no kept sandbox.
func Stop(ctx context.Context, e *engine.Engine, project string) error {
	project, err := projectDir(project)
	if err != nil {
		return err
	}
	dir := sandboxDir(e, project)
	notKept := fmt.Errorf("no sandbox of %s is kept running: %w", project, engine.ErrNotExist)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return notKept // never a sandbox there
	}
	lock, err := lockKept(dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	c, err := e.Load(KeptName(dir))
	if err != nil {
		if errors.Is(err, engine.ErrNotExist) {
			return notKept
		}
		return err
	}
	if err := c.Stop(ctx, 0); err != nil {
		return fmt.Errorf("stop the kept sandbox of %s: %w", project, err)
	}
	if err := c.Delete(ctx, true); err != nil {
		return fmt.Errorf("remove the kept sandbox of %s: %w", project, err)
	}
	s := &Sandbox{Project: project, Dir: dir, e: e}
	if s.lock, err = openLock(dir); err != nil {
		return err
	}
	return s.Close()
}

// lockKept takes the lock that makes the start and the stop of the kept
// sandbox of sandbox directory dir one at a time; closing the file
// releases it.
func lockKept(dir string) (*os.File, error) {
	return lockFile(filepath.Join(dir, "keep.lock"), unix.LOCK_EX, "kept sandbox lock")
}

// openLock opens the lock the sandboxes of a project share while they
// run (sandbox directory dir), taken shared.
func openLock(dir string) (*os.File, error) {
	return lockFile(filepath.Join(dir, "lock"), unix.LOCK_SH, "sandbox lock")
}

// lockFile opens (making it) the lock file path and takes it as how
// (unix.LOCK_EX or LOCK_SH) says; errors begin with what.
func lockFile(path string, how int, what string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return f, nil
}

// madeFile lists, in a sandbox directory, the protected paths sandboxes
// of the project made empty (see protect): the last sandbox of the
// project to end removes those still empty (unguard).
const madeFile = "made"

// recordMade adds the protected paths guards made to the list of dir.
func recordMade(dir string, guards []guard) error {
	var b strings.Builder
	for _, g := range guards {
		if g.made {
			b.WriteString(g.path + "\n")
		}
	}
	if b.Len() == 0 {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, madeFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record protected paths: %w", err)
	}
	_, err = f.WriteString(b.String()) // one write: O_APPEND keeps it whole
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record protected paths: %w", err)
	}
	return nil
}

// removeMade removes the protected paths of project that the list of dir
// names and that are still empty, then the list.
func removeMade(dir, project string) {
	data, err := os.ReadFile(filepath.Join(dir, madeFile))
	if err != nil {
		return
	}
	var guards []guard
	for p := range strings.Lines(string(data)) {
		p = strings.TrimSuffix(p, "\n")
		rel, err := filepath.Rel(project, p)
		if err != nil || !protectedPath(rel) {
			continue // not a path a sandbox makes
		}
		if fi, err := os.Lstat(p); err == nil {
			guards = append(guards, guard{path: p, made: true, dir: fi.IsDir()})
		}
	}
	unguard(guards)
	_ = os.Remove(filepath.Join(dir, madeFile))
}
