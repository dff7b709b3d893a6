package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rless/rless/pkg/container"
)

// Container is a handle on a container of the engine's run root: the one
// Create returns, which relays the container's stdio, or one Load returns,
// in any process of the user.
type Container struct {
	e       *Engine
	c       *container.Container
	name    string
	storage string
	remove  bool
}

// State is what a container's state says of it: its status (created,
// running, stopped), pid, exit status, and the record of its creation
// (name, image, command, ports, mounts, labels).
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

// ID returns the container's id (64 hexadecimal digits).
func (c *Container) ID() string { return c.c.ID() }

// Name returns the container's name, or "".
func (c *Container) Name() string { return c.name }

// Pid returns the host pid of the container's first process.
func (c *Container) Pid() int { return c.c.Pid() }

// Start starts the command of a created container.
func (c *Container) Start(ctx context.Context) error { return c.c.Start(ctx) }

// Signal sends sig to the container's command (through rless's init).
func (c *Container) Signal(sig syscall.Signal) error { return c.c.Signal(sig) }

// Stop stops the container: its stop signal, then SIGKILL if it has not
// ended timeout later (0: its stop timeout). It returns once the
// container's processes are gone.
func (c *Container) Stop(ctx context.Context, timeout time.Duration) error {
	return c.c.Stop(ctx, timeout)
}

// Wait waits for the container to end and returns the command's exit
// status (128+N when signal N killed it), or ctx's error when ctx is done
// first (the container goes on).
func (c *Container) Wait(ctx context.Context) (int, error) { return c.c.Wait(ctx) }

// State returns the container's state.
func (c *Container) State() (State, error) { return c.c.State() }

// Delete removes the container: its state, its storage and its name. A
// container that is not stopped is refused (ErrRunning) unless force,
// which kills it first.
func (c *Container) Delete(ctx context.Context, force bool) error {
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

// Load returns a handle on the container of the run root that ref names:
// its name, its id, or a unique prefix of its id.
func (e *Engine) Load(ref string) (*Container, error) {
	id, err := e.lookupContainer(ref)
	if err != nil {
		return nil, err
	}
	c, err := container.Load(e.runRoot, id)
	if err != nil {
		return nil, err
	}
	h := &Container{e: e, c: c}
	if st, err := c.State(); err == nil && st.Record != nil {
		h.name, h.storage = st.Record.Name, st.Record.Storage
	}
	return h, nil
}

// List returns the state of every container of the run root. It takes no
// lock.
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
		return "", fmt.Errorf("no such container %s: %w", ref, ErrNotExist)
	}
	if _, err := os.Stat(filepath.Join(e.runRoot, ref, "state.json")); err == nil {
		return ref, nil
	}
	all, err := container.List(e.runRoot)
	if err != nil {
		return "", err
	}
	var found []string
	for _, st := range all {
		if strings.HasPrefix(st.ID, ref) {
			found = append(found, st.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("no such container %s: %w", ref, ErrNotExist)
	}
	return "", fmt.Errorf("container %s: %d containers have ids starting so", ref, len(found))
}

// ValidateName checks a container name, as podman does: letters, digits,
// '_', '.' and '-', starting with a letter or digit, at most 253 bytes.
func ValidateName(name string) error { return container.ValidateName(name) }

// namePath is where the name of a container is claimed: a symbolic link
// to its id, made atomically, so that a name is unique without a lock.
func (e *Engine) namePath(name string) string { return filepath.Join(e.runRoot, ".names", name) }

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
		if rerr == nil {
			if _, serr := os.Stat(filepath.Join(e.runRoot, other)); serr == nil || !errors.Is(serr, os.ErrNotExist) {
				return nil, fmt.Errorf("the container name %q is already in use by %s: %w", name, other, ErrNameInUse)
			}
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
