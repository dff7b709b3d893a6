package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/network"
)

// createDetached records a detached container (see Config.Detach): its
// image is pulled as cfg.Pull says and resolved once, its name claimed;
// nothing runs until Start.
func (e *Engine) createDetached(ctx context.Context, cfg Config) (*Container, error) {
	if (cfg.Image == "") == (cfg.Rootfs == "") {
		return nil, errors.New("give an image or a root directory")
	}
	if cfg.Image == "" && len(cfg.Command) == 0 && !cfg.Idle {
		return nil, errors.New("no command given")
	}
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	if _, err := network.ParseMode(cfg.Network, cfg.Publish, false, nil); err != nil {
		return nil, err
	}
	if err := validateDetached(cfg); err != nil {
		return nil, err
	}
	if cfg.Name != "" {
		if err := ValidateName(cfg.Name); err != nil {
			return nil, err
		}
	}
	d := &definition{ID: container.NewID(), Name: cfg.Name, Created: time.Now()}
	if cfg.Image != "" {
		img, err := e.findImage(ctx, cfg.Image, cfg.Pull, cfg.Pulling)
		if err != nil {
			return nil, err
		}
		d.ImageID = img.ID
	}
	if cfg.Rootfs != "" {
		abs, err := filepath.Abs(cfg.Rootfs)
		if err != nil {
			return nil, err
		}
		cfg.Rootfs = abs
	}
	cfg.Stdin, cfg.Stdout, cfg.Stderr = nil, nil, nil
	cfg.Pulling.Progress = nil
	d.Config = cfg
	if err := os.MkdirAll(filepath.Join(e.root, defsDir), 0o700); err != nil {
		return nil, recordError(err, filepath.Join(e.root, defsDir))
	}
	if err := e.writeDef(d); err != nil {
		return nil, err
	}
	if cfg.Name != "" {
		if _, err := e.claimName(cfg.Name, d.ID); err != nil {
			os.RemoveAll(e.defDir(d.ID))
			return nil, err
		}
	}
	return &Container{e: e, id: d.ID, detached: true, name: d.Name}, nil
}

// validateDetached checks what only a detached container has.
func validateDetached(cfg Config) error {
	switch cfg.Restart.Name {
	case "", "no", "always", "unless-stopped", "on-failure":
	default:
		return fmt.Errorf("%q is not a valid restart policy (want no, on-failure[:N], always or unless-stopped)", cfg.Restart.Name)
	}
	if cfg.Restart.MaxRetries < 0 || cfg.Restart.MaxRetries > 0 && cfg.Restart.Name != "on-failure" {
		return errors.New("restart policy: a retry count is for on-failure only")
	}
	if cfg.Restart.Name != "" && cfg.Restart.Name != "no" && cfg.Remove {
		return errors.New("the --rm option conflicts with --restart, when the restart policy is not \"no\"")
	}
	switch cfg.Log.Driver {
	case "", "k8s-file", "none":
	default:
		return fmt.Errorf("log driver %q: want k8s-file or none", cfg.Log.Driver)
	}
	if h := cfg.Healthcheck; h != nil {
		switch h.OnFailure {
		case "", "none", "kill", "restart", "stop":
		default:
			return fmt.Errorf("health on-failure action %q: want none, kill, restart or stop", h.OnFailure)
		}
		if len(h.Test) == 0 || h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL" && h.Test[0] != "NONE" {
			return errors.New("healthcheck: the test must start with CMD, CMD-SHELL or NONE")
		}
	}
	return nil
}

// monitorArgs is what a monitor process is given.
type monitorArgs struct {
	Root, RunRoot, Driver, MountProgram string
	ID                                  string
	// Hold keeps the container's output, and the monitor after the
	// container's end, for the first client that attaches (StartAttached).
	Hold bool `json:",omitempty"`
	// Rows and Cols are the size of the terminal at the start, if known.
	Rows, Cols uint16 `json:",omitempty"`
	// supervisor is the socket of the supervisor the monitor runs in,
	// set there.
	supervisor string
}

// startDetached starts the monitor of detached container id and returns
// once the container's command runs.
func (e *Engine) startDetached(ctx context.Context, id string) error {
	return e.startMonitor(ctx, monitorArgs{ID: id})
}

// startMonitor has the supervisor start the monitor a describes (its
// store fields are filled in here) and returns once the container's
// command runs.
func (e *Engine) startMonitor(ctx context.Context, a monitorArgs) error {
	id := a.ID
	if e.monitorPid(id) != 0 {
		return nil // running
	}
	if err := container.EnsureRunRoot(e.runRoot); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(e.runRoot, monitorsDir), 0o700); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(e.defDir(id), stoppingFile))
	a.Root, a.RunRoot, a.Driver, a.MountProgram = e.root, e.runRoot, e.driver, e.mountProgram
	return e.superviseStart(ctx, a)
}

// markStopping tells the monitor of container id not to restart it.
func (e *Engine) markStopping(id string) error {
	return os.WriteFile(filepath.Join(e.defDir(id), stoppingFile), nil, 0o600)
}

// waitMonitor waits until the monitor of container id is gone.
func (e *Engine) waitMonitor(ctx context.Context, id string) error {
	for e.monitorPid(id) != 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// deleteDetached removes detached container id: its monitor (with force,
// its container killed), its run's state, its storage, record and name.
func (e *Engine) deleteDetached(ctx context.Context, id string, force bool) error {
	d, err := e.readDef(id)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no such container %s: %w", id, ErrNotExist)
		}
		return err
	}
	name := d.Name
	if name == "" {
		name = id
	}
	if pid := e.monitorPid(id); pid != 0 {
		if !force {
			return fmt.Errorf("cannot remove container %s as it is running - running or paused containers cannot be removed without force: %w", name, ErrRunning)
		}
		_ = e.markStopping(id)
		if err := e.superviseKill(ctx, id); err != nil {
			// Its supervisor cannot be asked (one of another build of
			// rless, say): the container is killed here, and its
			// monitor, which does not restart it now, ends.
			slog.Debug("kill through the supervisor", "id", id, "err", err)
			if rt, err := container.Load(e.runRoot, id); err == nil {
				_ = rt.Signal(syscall.SIGKILL)
			}
		}
		if err := e.waitMonitor(ctx, id); err != nil {
			return err
		}
	}
	return e.removeDetached(ctx, d)
}

// removeDetached removes what is left of detached container d, whose
// monitor is gone.
func (e *Engine) removeDetached(ctx context.Context, d *definition) error {
	var errs []error
	if rt, err := container.Load(e.runRoot, d.ID); err == nil {
		errs = append(errs, rt.Delete(ctx, true))
	}
	if d.ImageID != "" {
		s, err := e.openStore()
		if err == nil {
			err = e.removeStorage(ctx, s, d.ID, filepath.Join(e.root, "containers", d.ID))
		}
		errs = append(errs, err)
	}
	if d.Name != "" {
		e.releaseName(d.Name, d.ID)
	}
	// The record goes last, renamed away first: a half-removed one is
	// never read.
	dir := e.defDir(d.ID)
	gone := filepath.Join(filepath.Dir(dir), ".rm-"+d.ID)
	if err := os.Rename(dir, gone); err == nil {
		errs = append(errs, os.RemoveAll(gone))
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, ext := range []string{".pid", ".sock", ".log"} {
		_ = os.Remove(e.monitorPath(d.ID, ext))
	}
	return errors.Join(errs...)
}
