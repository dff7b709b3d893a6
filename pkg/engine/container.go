package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rless/rless/pkg/container"
)

// Container is a handle on a container of the engine: the one Create
// returns, or one Load returns, in any process of the user. A foreground
// container's creator relays its stdio; a detached container is run by
// its monitor (see Config.Detach), whatever process holds the handle.
type Container struct {
	e  *Engine
	id string
	// c is the runtime's handle of a foreground container; nil for a
	// detached one, whose runtime handle changes with each run.
	c        *container.Container
	detached bool
	name     string
	storage  string
	remove   bool
}

// State is what the runtime's state says of a container: its status
// (created, running, stopped), pid, exit status, spec and the record of
// its creation (name, image, command, ports, mounts, labels). See
// ContainerInfo for the whole of what the engine knows.
type State = container.State

// Status is the state of a container.
type Status = container.Status

// The states of a container.
const (
	Created = container.Created
	Running = container.Running
	Stopped = container.Stopped
)

// ErrNotExist is returned (wrapped) for a container that is not there.
var ErrNotExist = container.ErrNotExist

// ErrRunning is returned (wrapped) by Delete for a container that is not
// stopped, unless forced.
var ErrRunning = container.ErrRunning

// ErrNotRunning is returned (wrapped) by Exec, Signal and Attach for a
// container that does not run.
var ErrNotRunning = errors.New("container is not running")

// ID returns the container's id (64 hexadecimal digits).
func (c *Container) ID() string { return c.id }

// Name returns the container's name, or "".
func (c *Container) Name() string { return c.name }

// Detached reports whether a monitor runs the container (Config.Detach).
func (c *Container) Detached() bool { return c.detached }

// Pid returns the host pid of the container's first process, 0 when it
// does not run.
func (c *Container) Pid() int {
	if c.c != nil {
		return c.c.Pid()
	}
	if rt, err := c.runtime(); err == nil {
		if st, err := rt.State(); err == nil && st.Status != Stopped {
			return st.Pid
		}
	}
	return 0
}

// runtime returns the runtime's handle of the container's current run.
func (c *Container) runtime() (*container.Container, error) {
	if c.c != nil {
		return c.c, nil
	}
	rt, err := container.Load(c.e.runRoot, c.id)
	if errors.Is(err, container.ErrNotExist) {
		return nil, fmt.Errorf("container %s: %w", c.shortName(), ErrNotRunning)
	}
	return rt, err
}

// shortName is how errors name the container: its name, else its id.
func (c *Container) shortName() string {
	if c.name != "" {
		return c.name
	}
	return c.id
}

// Start starts the container's command. A detached container gets a
// monitor, which creates the container and starts its command; Start
// returns once the command runs (an error carries the exit status, see
// ExitCode). Starting a detached container that runs does nothing.
func (c *Container) Start(ctx context.Context) error {
	if c.detached {
		return c.e.startDetached(ctx, c.id)
	}
	return c.c.Start(ctx)
}

// Signal sends sig to the container's command (through rless's init).
func (c *Container) Signal(sig syscall.Signal) error {
	rt, err := c.runtime()
	if err != nil {
		return err
	}
	return rt.Signal(sig)
}

// Stop stops the container: its stop signal, then SIGKILL if it has not
// ended timeout later (0: its stop timeout). It returns once the
// container's processes are gone, and for a detached container its
// monitor too, which does not restart it.
func (c *Container) Stop(ctx context.Context, timeout time.Duration) error {
	if !c.detached {
		return c.c.Stop(ctx, timeout)
	}
	if c.e.monitorPid(c.id) == 0 {
		return nil
	}
	if err := c.e.markStopping(c.id); err != nil {
		return err
	}
	if timeout <= 0 {
		if d, err := c.e.readDef(c.id); err == nil {
			timeout = d.Config.StopTimeout
		}
	}
	if rt, err := c.runtime(); err == nil {
		if err := rt.Stop(ctx, timeout); err != nil {
			return err
		}
	}
	return c.e.waitMonitor(ctx, c.id)
}

// Wait waits for the container to end and returns the command's exit
// status (128+N when signal N killed it), or ctx's error when ctx is done
// first (the container goes on). A detached container has ended when its
// monitor has, after its last restart.
func (c *Container) Wait(ctx context.Context) (int, error) {
	if !c.detached {
		return c.c.Wait(ctx)
	}
	for {
		info, err := c.Info()
		if err != nil {
			return -1, err
		}
		if info.Status == Stopped && c.e.monitorPid(c.id) == 0 {
			return info.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// State returns the container's state.
func (c *Container) State() (State, error) {
	if !c.detached {
		return c.c.State()
	}
	info, err := c.Info()
	if err != nil {
		return State{}, err
	}
	st := State{ID: c.id, Status: info.Status, Pid: info.Pid, ExitCode: info.ExitCode, Created: info.Created, Spec: info.Spec}
	if rt, err := c.runtime(); err == nil && info.Status != Stopped {
		if rs, err := rt.State(); err == nil {
			st.Dir, st.Record = rs.Dir, rs.Record
		}
	}
	return st, nil
}

// Delete removes the container: its state, its storage and its name, and
// for a detached container its record and log. A container that is not
// stopped is refused (ErrRunning) unless force, which kills it first.
func (c *Container) Delete(ctx context.Context, force bool) error {
	if c.detached {
		return c.e.deleteDetached(ctx, c.id, force)
	}
	storage := c.storage
	if storage == "" {
		if st, err := c.c.State(); err == nil && st.Record != nil {
			storage = st.Record.Storage
		}
	}
	if err := c.c.Delete(ctx, force); err != nil {
		return err
	}
	var errs []error
	if storage != "" {
		s, err := c.e.openStore()
		if err == nil {
			err = c.e.removeStorage(ctx, s, c.ID(), storage)
		}
		errs = append(errs, err)
	}
	if c.name != "" {
		c.e.releaseName(c.name, c.ID())
	}
	return errors.Join(errs...)
}

// Load returns a handle on the container that ref names: its name, its
// id, or a unique prefix of its id.
func (e *Engine) Load(ref string) (*Container, error) {
	id, err := e.lookupContainer(ref)
	if err != nil {
		return nil, err
	}
	if d, err := e.readDef(id); err == nil {
		return &Container{e: e, id: id, detached: true, name: d.Name}, nil
	}
	c, err := container.Load(e.runRoot, id)
	if err != nil {
		return nil, err
	}
	h := &Container{e: e, id: id, c: c}
	if st, err := c.State(); err == nil && st.Record != nil {
		h.name, h.storage = st.Record.Name, st.Record.Storage
	}
	return h, nil
}

// List returns the runtime's state of every container of the run root
// that runs or ended in the foreground or runs detached. It takes no
// lock. Containers says more, of every container.
func (e *Engine) List() ([]State, error) { return container.List(e.runRoot) }

// lookupContainer returns the id of the container ref names.
func (e *Engine) lookupContainer(ref string) (string, error) {
	if ref == "" {
		return "", errors.New("no container given")
	}
	if ValidateName(ref) == nil {
		if id, err := os.Readlink(e.namePath(ref)); err == nil {
			return id, nil
		}
	}
	if container.ValidateID(ref) != nil {
		return "", fmt.Errorf("no container with name or ID %q found: %w", ref, ErrNotExist)
	}
	if e.exists(ref) {
		return ref, nil
	}
	// An id prefix: the ids are the names of the records and of the
	// state directories.
	ids, err := e.detachedIDs()
	if err != nil {
		return "", err
	}
	entries, _ := os.ReadDir(e.runRoot)
	for _, en := range entries {
		if en.IsDir() && container.ValidateID(en.Name()) == nil && !slices.Contains(ids, en.Name()) {
			ids = append(ids, en.Name())
		}
	}
	var found []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("no container with name or ID %q found: %w", ref, ErrNotExist)
	}
	return "", fmt.Errorf("container %s: %d containers have ids starting so", ref, len(found))
}

// ValidateName checks a container name, as podman does: letters, digits,
// '_', '.' and '-', starting with a letter or digit, at most 253 bytes.
func ValidateName(name string) error { return container.ValidateName(name) }

// namePath is where the name of a container is claimed: a symbolic link
// to its id, made atomically, so that a name is unique without a lock. It
// is in the store, with the detached containers' records.
func (e *Engine) namePath(name string) string {
	return filepath.Join(e.root, defsDir, ".names", name)
}

// exists reports whether container id is there: recorded (detached) or in
// the run root.
func (e *Engine) exists(id string) bool {
	for _, p := range []string{filepath.Join(e.defDir(id), configFile), filepath.Join(e.runRoot, id, "state.json")} {
		if _, err := os.Stat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}

// ErrNameInUse is returned (wrapped) by Create for a name another
// container has.
var ErrNameInUse = errors.New("that name is already in use")

// claimName gives name to container id, and returns the function that
// gives it back.
func (e *Engine) claimName(name, id string) (func(), error) {
	p := e.namePath(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	for range 2 {
		err := os.Symlink(id, p)
		if err == nil {
			return func() { e.releaseName(name, id) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("claim name %s: %w", name, err)
		}
		other, rerr := os.Readlink(p)
		young := false
		if fi, err := os.Lstat(p); err == nil {
			// Claimed a moment ago: its container is being made.
			young = time.Since(fi.ModTime()) < 30*time.Second
		}
		if rerr == nil && (young || e.exists(other) || container.ValidateID(other) != nil) {
			return nil, fmt.Errorf("the container name %q is already in use by %s. You have to remove that container to be able to reuse that name: %w", name, other, ErrNameInUse)
		}
		// The name of a container that is gone: free it.
		_ = os.Remove(p)
	}
	return nil, fmt.Errorf("the container name %q: %w", name, ErrNameInUse)
}

// releaseName gives back name if container id has it.
func (e *Engine) releaseName(name, id string) {
	p := e.namePath(name)
	if other, err := os.Readlink(p); err == nil && other == id {
		_ = os.Remove(p)
	}
}
