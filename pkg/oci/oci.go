// Package oci is rless's OCI runtime personality: the operations of runc's
// command line (create, start, state, kill, delete, exec, ps, list) on OCI
// bundles, for engines that call a runtime binary (podman's --runtime,
// containerd's shim, CRI-O). It stands on the container package: a
// container is created from a bundle's config.json and waits at the
// barrier until Start, in any later process; its state is what runc's
// state command prints.
//
// Rootless, a bundle either has a user namespace with its mappings (as
// `rless oci spec --rootless` writes it) or none, when the caller already
// runs as root of a user namespace (rootless podman runs its runtime inside
// its own). Namespaces given by path are joined, except a user or mount
// namespace.
package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/atomicfile"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/cgroups"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/userns"
	"golang.org/x/sys/unix"
)

// Runtime runs the containers whose state is under Root.
type Runtime struct {
	// Root is the directory of the containers' state (runc's --root);
	// "" is DefaultRoot().
	Root string
}

// DefaultRoot is runc's default state directory, rless's:
// $XDG_RUNTIME_DIR/rless-runc, else /run/rless-runc for a root that may
// write /run, else /tmp/rless-runc-UID (UID the host's uid, also for root
// of a user namespace).
func DefaultRoot() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "rless-runc")
	}
	if os.Geteuid() == 0 && unix.Access("/run", unix.W_OK) == nil {
		return "/run/rless-runc"
	}
	return fmt.Sprintf("/tmp/rless-runc-%d", hostUID())
}

// hostUID is the caller's uid in the host's user namespace, as far as
// /proc/self/uid_map tells (the uid here where it does not).
func hostUID() int {
	uid := os.Getuid()
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return uid
	}
	for _, line := range strings.Split(string(b), "\n") {
		var inside, outside, size int
		if n, _ := fmt.Sscan(line, &inside, &outside, &size); n == 3 && uid >= inside && uid < inside+size {
			return outside + uid - inside
		}
	}
	return uid
}

func (r *Runtime) root() string {
	if r.Root == "" {
		return DefaultRoot()
	}
	return r.Root
}

// CreateOptions are the options of create and run.
type CreateOptions struct {
	// ID is the container's id (required).
	ID string
	// Bundle is the bundle directory; "" is the current one.
	Bundle string
	// PidFile, if set, is written with the pid of the container's first
	// process once it is created.
	PidFile string
	// ConsoleSocket is the path of a unix socket to which the
	// pseudo-terminal's master is sent (as runc sends it) when the
	// bundle's process has a terminal; required then.
	ConsoleSocket string
	// Stdin, Stdout and Stderr are the container's standard streams
	// without a terminal (nil: /dev/null); *os.File are passed as they are.
	Stdin          *os.File
	Stdout, Stderr *os.File
}

// Create creates the container of a bundle: its process waits for Start.
// The container outlives the calling process.
func (r *Runtime) Create(ctx context.Context, o CreateOptions) (*container.Container, error) {
	if o.ID == "" {
		return nil, errors.New("container id cannot be empty")
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	s, err := LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	hooks, err := takeHooks(s)
	if err != nil {
		return nil, err
	}
	if s.Linux.Resources != nil {
		if d := cgroups.Detect(); d.Dir == "" {
			// As rootless runc: without a cgroup to manage, the limits
			// are not applied, and that is no error (engines always send
			// some).
			slog.Debug("ignoring linux.resources: no delegated cgroup", "why", d.Why)
			s.Linux.Resources = nil
		}
	}
	terminal := s.Process != nil && s.Process.Terminal
	if terminal && o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal is set: --console-socket is required")
	}
	if !terminal && o.ConsoleSocket != "" {
		return nil, errors.New("--console-socket given, but process.terminal is not set")
	}
	if _, err := os.Stat(filepath.Join(r.root(), o.ID)); err == nil {
		return nil, fmt.Errorf("container with id exists: %s", o.ID)
	}
	if err := container.EnsureRunRoot(r.root()); err != nil {
		return nil, err
	}
	cfg := container.Config{
		ID: o.ID, Spec: s, RunRoot: r.root(), Bundle: bundle, Detach: true,
	}
	// With a terminal the container has none of the caller's streams:
	// its stdio is the terminal, and the caller's pipes must end with the
	// caller; nor without a process, which has nothing to run.
	if !terminal && s.Process != nil {
		cfg.Stdin, cfg.Stdout, cfg.Stderr = streams(o.Stdin, o.Stdout, o.Stderr)
	}
	if spec.HasNamespace(s, specs.UserNamespace) {
		if cfg.Host, err = userns.DetectHost(); err != nil {
			return nil, err
		}
		if cfg.Mapping, err = specMapping(s, cfg.Host); err != nil {
			return nil, err
		}
	}
	if o.ConsoleSocket != "" {
		socket := o.ConsoleSocket
		cfg.Console = func(master *os.File) error {
			defer master.Close()
			return SendConsole(socket, master)
		}
	}
	c, err := container.Create(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if hooks != nil {
		err := saveHooks(c.Dir(), hooks)
		if err == nil {
			var st State
			if st, err = r.State(o.ID); err == nil {
				err = runHooks(ctx, "createRuntime", hooks.CreateRuntime, hookState(st, "creating"))
			}
		}
		if err != nil {
			_ = c.Delete(context.Background(), true)
			return nil, err
		}
	}
	if o.PidFile != "" {
		if err := WritePidFile(o.PidFile, c.Pid()); err != nil {
			_ = c.Delete(context.Background(), true)
			return nil, err
		}
	}
	return c, nil
}

// specMapping is the id mapping the spec asks for: written directly when
// it maps one id to the caller's own, else by newuidmap and newgidmap
// (which check it against the caller's subordinate ranges).
func specMapping(s *specs.Spec, h *userns.Host) (userns.Mapping, error) {
	l := s.Linux
	if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
		return userns.Mapping{}, errors.New("a user namespace needs linux.uidMappings and linux.gidMappings")
	}
	own := func(ms []specs.LinuxIDMapping, id int) bool {
		return len(ms) == 1 && ms[0].Size == 1 && ms[0].HostID == uint32(id)
	}
	m := userns.Mapping{UIDs: l.UIDMappings, GIDs: l.GIDMappings}
	// Root of this user namespace writes any mapping of its ids itself.
	m.Helpers = os.Geteuid() != 0 && (!own(l.UIDMappings, h.UID) || !own(l.GIDMappings, h.GID))
	if m.Helpers && (h.NewUIDMap == "" || h.NewGIDMap == "") {
		return userns.Mapping{}, errors.New("the spec maps more than your own uid and gid: that needs newuidmap and newgidmap (package uidmap)")
	}
	return m, nil
}

// WritePidFile writes pid to path atomically, as runc's --pid-file.
func WritePidFile(path string, pid int) error {
	if err := atomicfile.Write(path, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// Load returns the container id.
func (r *Runtime) Load(id string) (*container.Container, error) {
	c, err := container.Load(r.root(), id)
	if errors.Is(err, container.ErrNotExist) {
		return nil, fmt.Errorf("container %s does not exist", id)
	}
	return c, err
}

// Start starts a created container's process.
func (r *Runtime) Start(ctx context.Context, id string) error {
	c, err := r.Load(id)
	if err != nil {
		return err
	}
	st, err := c.State()
	if err != nil {
		return err
	}
	switch st.Status {
	case container.Created:
	case container.Stopped:
		return errors.New("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start an already running container")
	}
	hooks := loadHooks(c.Dir())
	var state State // the hooks' input, made only for hooks (it stats the state directory)
	if hooks != nil {
		state = stateOf(st)
		//lint:ignore SA1019 prestart is deprecated, not gone: engines still send it
		if err := runHooks(ctx, "prestart", hooks.Prestart, hookState(state, "created")); err != nil {
			// The lifecycle goes on at delete, as the spec says.
			_ = c.Delete(context.Background(), true)
			poststop(ctx, hooks, state)
			return err
		}
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	if hooks != nil {
		// The state as created, running: a process that has ended already
		// (`true`) would be reported stopped, without its pid, by a new
		// State, and the hooks are owed the pid of the process started.
		warnHooks(ctx, "poststart", hooks.Poststart, hookState(state, "running"))
	}
	return nil
}

// Kill sends sig to the container's first process; with all, to every
// process of the container.
func (r *Runtime) Kill(id string, sig syscall.Signal, all bool) error {
	c, err := r.Load(id)
	if err != nil {
		return err
	}
	st, err := c.State()
	if err != nil {
		return err
	}
	if st.Status == container.Stopped {
		return errors.New("container not running")
	}
	if all {
		pids, err := r.Pids(id)
		if err != nil {
			return err
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
		return nil
	}
	return c.Signal(sig)
}

// Delete removes a stopped container; with force, a running one too
// (killed first). A container already gone is an error unless force.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	c, err := r.Load(id)
	if err != nil {
		if force && !exists(r.root(), id) {
			return nil
		}
		return err
	}
	st, err := c.State()
	if err == nil && st.Status != container.Stopped && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, st.Status)
	}
	hooks := loadHooks(c.Dir())
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Delete(ctx, true); err != nil {
		return err
	}
	if hooks != nil {
		poststop(ctx, hooks, stateOf(st))
	}
	return nil
}

func exists(root, id string) bool {
	_, err := os.Lstat(filepath.Join(root, id))
	return err == nil
}

// Pids returns the host pids of the container's processes: its first
// process and every descendant.
func (r *Runtime) Pids(id string) ([]int, error) {
	c, err := r.Load(id)
	if err != nil {
		return nil, err
	}
	st, err := c.State()
	if err != nil {
		return nil, err
	}
	if st.Status == container.Stopped || st.Pid == 0 {
		return []int{}, nil
	}
	table, err := proc.Table()
	if err != nil {
		return nil, err
	}
	return proc.Descendants(table, st.Pid), nil
}

// streams returns the files as the container package takes streams: a
// nil file as a nil interface (/dev/null), not a typed nil.
func streams(in, out, errs *os.File) (io.Reader, io.Writer, io.Writer) {
	var r io.Reader
	var w, e io.Writer
	if in != nil {
		r = in
	}
	if out != nil {
		w = out
	}
	if errs != nil {
		e = errs
	}
	return r, w, e
}
