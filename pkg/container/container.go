// Package container is rless's runtime: it creates OCI-spec containers
// rootless (the namespaces through the userns package, the rest in rless's
// in-container stage), starts their command, relays stdio or a
// pseudo-terminal, forwards signals, execs more processes in them, and
// records their state so that another process can find them (Load, List).
//
// The lifecycle is runc's: Create makes a container and leaves it waiting,
// fully set up, until Start; Wait returns the command's exit status; Signal
// and Stop signal it; Delete removes what is left. Run does all of it for a
// foreground container.
//
// Every program that uses this package must call [Init] first thing in main:
// the containers' first process is the program itself, re-executed.
package container

import (
	"context"
	"errors"
	"fmt"
	"github.com/rless/rless/internal/stage"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/logging"
	"github.com/rless/rless/internal/syncmsg"
	"github.com/rless/rless/pkg/cgroups"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/seccomp"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/terminal"
	"github.com/rless/rless/pkg/userns"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Config describes one container to create.
type Config struct {
	// ID is the container id; "" picks a random one (see NewID).
	ID string
	// Spec is the container's OCI spec (see the spec package). Its
	// Linux.UIDMappings and GIDMappings must be Mapping's.
	Spec *specs.Spec
	// Host and Mapping say how to create the user namespace (see
	// userns.DetectHost and Host.Mapping).
	Host    *userns.Host
	Mapping userns.Mapping
	// RunRoot is where the container's state directory is made; "" is
	// DefaultRunRoot().
	RunRoot string
	// Stdin, Stdout and Stderr are the command's standard streams; nil
	// means /dev/null. With Spec.Process.Terminal, Stdin and Stdout are
	// relayed to the pseudo-terminal and Stdin, if it is a terminal, is put
	// in raw mode meanwhile; an unset Spec.Process.ConsoleSize is then
	// filled in from that terminal. The goroutine copying Stdin ends when
	// Stdin does.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ProxySignals forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
	// SIGUSR2 and SIGWINCH received by this process to the container.
	ProxySignals bool
	// Network connects the container's network namespace (see
	// network.Driver); nil when it has none of its own or needs nothing
	// but loopback. The container owns it from Create on: it is closed
	// once the container has ended, or when Create fails.
	Network network.Driver
	// Prepare, if not nil, is called once the container's first process
	// exists, while its ids are mapped and before it builds the
	// container: for work the container needs (its root's storage, say)
	// that need not delay its start. An error fails the creation.
	Prepare func() error
	// AfterExit, if not nil, is called as soon as the container's
	// processes are all gone (not if its creation failed). rless removes a
	// foreground container's storage there.
	AfterExit func()
	// StopTimeout is how long a container has to end after its stop
	// signal (spec.StopSignal) before it is killed, for Stop and for Run
	// when its context is done; 0 is DefaultStopTimeout.
	StopTimeout time.Duration
	// Program is the program the container's init runs, which must be
	// a program that calls Init first thing (as the rless command does):
	// "" for the running one.
	Program string
	// Detach lets the container outlive the process that creates it. By
	// default the container is killed when that process (precisely: the
	// thread that called Create) ends, as a foreground container must be.
	Detach bool
	// Spare lets Create take an init that an earlier Create of this
	// process started ahead with the same options, and start one ahead
	// for the next once this one runs (see spare.go): for a process that
	// creates containers over and over, as rless's supervisor does. A
	// spare is an idle init in namespaces of its own, which dies with its
	// creator.
	Spare bool
	// AutoRemove says that the creator deletes the container as soon as
	// it ends (Run sets it): if the creator is killed first, the next
	// rless removes its state.
	AutoRemove bool
	// Bundle is the OCI bundle directory the spec comes from, recorded in
	// the state, or "".
	Bundle string
	// Console, if not nil, takes the pseudo-terminal's master of a
	// container with Spec.Process.Terminal, instead of its relay to Stdin
	// and Stdout: an OCI runtime sends it to its caller's console socket.
	// Console owns the master from then on.
	Console func(master *os.File) error
	// Record is what to record of the container for list and inspect
	// (written in the background of the start), or nil. An auto-removed
	// container's is not written unless it has a name or labels: its
	// state (spec, image and ports) says enough of it while it runs, and
	// the write would cost every foreground start.
	Record *Record
}

// DefaultStopTimeout is podman's: 10 seconds.
const DefaultStopTimeout = 10 * time.Second

// proxied are the signals forwarded when Config.ProxySignals is set.
var proxied = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// Container is a handle on a container: the one Create returns to its
// creator, or one Load returns to any process of the same user. A creator's
// handle relays the container's stdio and knows its exit status first hand;
// a loaded one reads what the state directory says.
type Container struct {
	id, dir string
	sd      *stateDir

	// The creator's side; nil child for a loaded handle.
	cfg     Config
	child   *stage.Child
	cgroup  string
	master  *os.File
	hostTTY *os.File
	sigs    chan os.Signal
	network network.Driver

	startOnce sync.Once
	startErr  error
	ended     chan struct{} // closed once the init has said the command ended (auto-removed containers)
	done      chan struct{} // closed once the container's processes are gone and cleaned up after
	code      int
	waitErr   error
	pid       int
}

// Run creates the container cfg describes, runs its command to the end,
// deletes it and returns the command's exit status (128+N when signal N
// killed it). An error means the container could not be created or its
// command not started; it is an *Error carrying the exit status to use.
// When ctx is done the container is stopped: it gets its stop signal, and
// is killed if it has not ended StopTimeout later. Nothing of the container
// is left when Run returns.
func Run(ctx context.Context, cfg Config) (int, error) {
	cfg.AutoRemove = true
	c, err := create(ctx, cfg, false)
	if err != nil {
		return 0, failed(err)
	}
	defer c.Delete(context.Background(), true)
	stop := context.AfterFunc(ctx, func() { _ = c.Stop(context.Background(), cfg.StopTimeout) })
	defer stop()
	<-c.done
	if c.waitErr != nil {
		return 0, failed(c.waitErr)
	}
	return c.code, nil
}

// Create makes the container cfg describes: its namespaces, root
// filesystem, network and confinement, with its command resolved but not
// started; the container waits for Start. A spec without a process makes
// a container that Start ends (there is nothing to run: the runtime
// spec's process is optional until start). An error is an *Error carrying
// the exit status to use (ExitNotFound for a command that is not there,
// say); nothing of the container is left then.
func Create(ctx context.Context, cfg Config) (*Container, error) {
	c, err := create(ctx, cfg, true)
	return c, failed(err)
}

func create(ctx context.Context, cfg Config, barrier bool) (_ *Container, err error) {
	if cfg.Network != nil {
		defer func() {
			if err != nil {
				_ = cfg.Network.Close()
			}
		}()
	}
	s := cfg.Spec
	if s == nil || s.Linux == nil || s.Process == nil && !barrier {
		return nil, errors.New("incomplete spec: no process or linux section")
	}
	// Without a user namespace in the spec the container is made in the
	// caller's, whose root it must be (an engine's runtime, as rootless
	// podman's).
	noUserns := !spec.HasNamespace(s, specs.UserNamespace)
	if noUserns && os.Geteuid() != 0 {
		return nil, errors.New("linux.namespaces has no user namespace: without one, rless must run as root (of a user namespace, as under rootless podman); add a user namespace with linux.uidMappings and linux.gidMappings")
	}
	if cfg.Host == nil && !noUserns {
		return nil, errors.New("no host description (userns.DetectHost)")
	}
	if err := checkSpec(s); err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		cfg.ID = NewID()
	}
	if err := ValidateID(cfg.ID); err != nil {
		return nil, err
	}
	if cfg.RunRoot == "" {
		cfg.RunRoot = DefaultRunRoot()
	}
	c := &Container{
		id: cfg.ID, dir: filepath.Join(cfg.RunRoot, cfg.ID), cfg: cfg,
		network: cfg.Network, done: make(chan struct{}),
	}
	c.sd = &stateDir{dir: c.dir, id: c.id, bundle: cfg.Bundle, autoRemove: cfg.AutoRemove, created: time.Now()}
	stateArg := c.dir
	var extra []*os.File
	if uid, ok := userns.HostID(cfg.Mapping.UIDs, 0); ok && !noUserns && os.Geteuid() == 0 && uid != uint32(os.Getuid()) {
		// The container's root (the init) is another user here: its
		// state directory is given to it, and it reaches it through the
		// run root, passed open (it may not search the run root's
		// parents, such as a 0700 XDG_RUNTIME_DIR).
		gid, _ := userns.HostID(cfg.Mapping.GIDs, 0)
		c.sd.owner = &[2]int{int(uid), int(gid)}
		if err := EnsureRunRoot(cfg.RunRoot); err != nil {
			return nil, err
		}
		if err := os.Chmod(cfg.RunRoot, 0o711); err != nil {
			return nil, err
		}
		rr, err := os.OpenFile(cfg.RunRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		defer rr.Close()
		extra = []*os.File{rr}
		stateArg = fmt.Sprintf("/proc/self/fd/%d/%s", stage.SyncFD+1, c.id)
	}
	if s.Process != nil && s.Process.Terminal {
		for _, s := range []any{cfg.Stdin, cfg.Stdout} {
			if f, ok := s.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				c.hostTTY = f
				break
			}
		}
	}
	if c.hostTTY != nil && s.Process.ConsoleSize == nil {
		if size, err := terminal.GetSize(c.hostTTY); err == nil {
			s.Process.ConsoleSize = &specs.Box{Height: uint(size.Rows), Width: uint(size.Cols)}
		}
	}

	// Start the child first: its start and the id-mapping helpers take
	// longest, and the state directory is written meanwhile (the child
	// reads it once released).
	if c.cgroup, err = createCgroup(c.id, s.Linux.Resources); err != nil {
		return nil, err
	}
	opts := stage.SpawnOptions{
		Cgroup:     c.cgroup,
		Stage:      InitStage,
		Path:       cfg.Program,
		Args:       []string{stateArg},
		ExtraFiles: extra,
		Cloneflags: cloneFlags(s),
		Env:        []string{},
		Setsid:     true,
		Stderr:     cfg.Stderr,
		Host:       cfg.Host,
		Mapping:    cfg.Mapping,
		Detach:     cfg.Detach,
		NoUserns:   noUserns,
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Path != "" {
			opts.Join = append(opts.Join, ns)
		}
	}
	if s.Process == nil || !s.Process.Terminal {
		opts.Stdin, opts.Stdout = cfg.Stdin, cfg.Stdout
	}
	if lvl := os.Getenv(logging.Env); lvl != "" {
		opts.Env = append(opts.Env, logging.Env+"="+lvl)
	}
	// One processor for the init's Go code: it sets up, then waits. Given,
	// GOMAXPROCS also spares the init reading the cgroup's CPU limit on
	// the critical path; and each processor would keep its own cache of
	// heap spans, which a waiting init keeps resident (measured: 270 kB
	// less per init than with two).
	opts.Env = append(opts.Env, "GOMAXPROCS=1")
	slog.Debug("spawn container init")
	key, spareOK := "", false
	if cfg.Spare {
		key, spareOK = spareKey(opts)
	}
	if c.child = takeSpare(key, spareOK); c.child != nil {
		slog.Debug("spare init claimed", "pid", c.child.Cmd.Process.Pid)
		stdio, _ := stdioFiles(opts) // files: spareKey accepted them
		if err := c.child.Claim(stateArg, stdio); err != nil {
			slog.Debug("claim the spare init", "err", err) // gone meanwhile: start one
			c.child.Kill()
			c.child = nil
		}
	}
	switch {
	case c.child != nil: // the spare
	case cfg.Detach:
		c.child, err = stage.Start(opts)
	default:
		c.child, err = startLocked(opts)
	}
	if err != nil {
		c.removeCgroup()
		return nil, err
	}
	if spareOK {
		defer func() {
			if err == nil {
				spareLater(key, opts)
			}
		}()
	}
	ok := false
	defer func() {
		if !ok {
			c.child.Kill()
			c.removeCgroup()
		}
	}()
	mapped := make(chan error, 1)
	written := make(chan struct{})
	go func() { mapped <- c.child.Map(ctx, func() { <-written }) }()
	is := initSpec{spec: s, barrier: barrier}
	if cfg.Network != nil {
		is.tap = cfg.Network.Tap()
		is.waitNet = is.tap == nil
	}
	if s.Linux.Seccomp != nil {
		is.seccomp, err = seccomp.Cache{Dir: filepath.Join(cfg.RunRoot, ".seccomp")}.Compile(s.Linux.Seccomp)
	}
	made := false
	if err == nil {
		err = c.sd.create(is, c.child.Cmd.Process.Pid, barrier)
		made = err == nil
	}
	close(written)
	if made {
		defer func() {
			if !ok {
				_ = c.sd.remove()
			}
		}()
		if cfg.Prepare != nil {
			err = cfg.Prepare()
		}
	}
	// Signals are forwarded from before the child may start the command.
	if cfg.ProxySignals {
		c.sigs = make(chan os.Signal, 16)
		signal.Notify(c.sigs, proxied...)
		defer func() {
			if !ok {
				signal.Stop(c.sigs)
			}
		}()
	}
	err = errors.Join(err, <-mapped)
	if err == nil {
		err = c.child.Release()
	}
	if err != nil {
		return nil, err
	}
	c.pid = c.child.Cmd.Process.Pid
	slog.Debug("container init running", "id", c.id, "pid", c.pid)
	if is.waitNet {
		err := cfg.Network.Attach(ctx, c.pid, nil)
		if err == nil {
			err = c.child.Sync.Send(syncmsg.Msg{Type: syncmsg.NetReady})
		}
		if err != nil {
			return nil, fmt.Errorf("connect the network: %w", err)
		}
	}
	st, err := c.await(ctx)
	if err != nil {
		return nil, err
	}
	ok = true
	if r := cfg.Record; r != nil && (!cfg.AutoRemove || r.Name != "" || len(r.Labels) > 0) {
		// Off the start's critical path; the state directory is not
		// removed before it is written (see stateDir.remove).
		c.sd.recording = make(chan struct{})
		go func() {
			defer close(c.sd.recording)
			_ = writeJSON(filepath.Join(c.dir, recordFile), cfg.Record)
		}()
	}
	if st == Created {
		_ = c.sd.setState(Created, c.pid)
	} else {
		c.startOnce.Do(func() {})
		c.running()
		if c.cfg.AutoRemove && spec.InitEnabled(s) {
			// rless's init says when the command has ended (or its
			// socket closes as it dies): the state goes then, while the
			// kernel takes the namespaces down.
			c.ended = make(chan struct{})
			go func() {
				defer close(c.ended)
				_, _, _ = c.child.Sync.Recv()
				if err := c.sd.remove(); err != nil {
					slog.Warn("removing the state directory", "err", err)
				}
			}()
		}
	}
	go c.wait()
	return c, nil
}

// await reads the child's messages until it waits at the barrier (Created)
// or has started the command or executed it in its place (Running),
// taking the pty master and the tap device it sends.
func (c *Container) await(ctx context.Context) (Status, error) {
	for {
		m, fds, err := c.child.Sync.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return Running, nil // the command was executed in place of the stage
		case err != nil:
		case m.Type == syncmsg.PTY && len(fds) == 1 && c.master == nil:
			master := os.NewFile(uintptr(fds[0]), "ptmx")
			if c.cfg.Console == nil {
				c.master = master
				continue
			}
			fds = nil
			if err = c.cfg.Console(master); err == nil {
				continue
			}
			err = fmt.Errorf("console: %w", err)
		case m.Type == syncmsg.Tap && (len(fds) == 1 || len(fds) == 2) && c.network != nil:
			if len(fds) == 2 {
				// The loopback relay the container's init serves.
				network.AttachRelay(c.network, os.NewFile(uintptr(fds[1]), "relay"))
			}
			err = c.network.Attach(ctx, c.pid, os.NewFile(uintptr(fds[0]), "tap"))
			if err == nil {
				continue
			}
			fds = nil // Attach closed the tap
			err = fmt.Errorf("start the network: %w", err)
		case m.Type == syncmsg.Failed:
			err = &Error{Code: m.Code, Err: errors.New(m.Error)}
		case m.Type == syncmsg.Created:
			return Created, nil
		case m.Type == syncmsg.Started:
			return Running, nil
		default:
			err = fmt.Errorf("unexpected message %q from the container", m.Type)
		}
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
		if c.master != nil {
			c.master.Close()
			c.master = nil
		}
		return "", err
	}
}

// running records that the command runs.
func (c *Container) running() {
	_ = c.sd.setState(Running, c.pid)
	removeStale(filepath.Dir(c.dir)) // while the command runs
	slog.Debug("command started")
}

// Exec starts a process in the running container, through rless's init
// (see Exec).
func (c *Container) Exec(ctx context.Context, cfg ExecConfig) (*Process, error) {
	return Exec(ctx, c.dir, cfg)
}

// ID returns the container's id.
func (c *Container) ID() string { return c.id }

// Dir returns the container's state directory.
func (c *Container) Dir() string { return c.dir }

// Pid returns the host pid of the container's first process (rless's
// init, or the command itself with init disabled).
func (c *Container) Pid() int { return c.pid }

// Start starts the command of a created container. For the creator's
// handle it returns once the command runs, or with the error (an *Error)
// that kept it from starting; for a loaded handle, once the container has
// been told to start.
func (c *Container) Start(ctx context.Context) error {
	if c.child == nil {
		st, err := c.State()
		if err != nil {
			return err
		}
		if st.Status != Created {
			return fmt.Errorf("container %s is %s, not created", c.id, st.Status)
		}
		if err := openBarrier(ctx, c.dir, c.pid); err != nil {
			return failed(err)
		}
		_ = c.sd.setState(Running, c.pid)
		return nil
	}
	started := false
	c.startOnce.Do(func() {
		started = true
		if c.startErr = openBarrier(ctx, c.dir, c.pid); c.startErr != nil {
			return
		}
		// The command is being started: what the init says next is
		// whether it did.
		m, _, err := c.child.Sync.Recv()
		switch {
		case errors.Is(err, io.EOF) || err == nil && m.Type == syncmsg.Started:
			c.running()
		case err != nil:
			c.startErr = fmt.Errorf("start: %w", err)
		case m.Type == syncmsg.Failed:
			c.startErr = &Error{Code: m.Code, Err: errors.New(m.Error)}
		default:
			c.startErr = fmt.Errorf("start: unexpected message %q from the container", m.Type)
		}
	})
	if !started && c.startErr == nil {
		return fmt.Errorf("container %s was started already", c.id)
	}
	return failed(c.startErr)
}

// wait follows the creator's container to its end: it relays the
// terminal, forwards signals, and once the container is gone records its
// exit status, stops its network and calls AfterExit.
func (c *Container) wait() {
	defer close(c.done)
	outputDone := func() {}
	if c.master != nil {
		defer c.master.Close()
		if c.hostTTY != nil && c.hostTTY == c.cfg.Stdin {
			if old, err := term.MakeRaw(int(c.hostTTY.Fd())); err == nil {
				defer term.Restore(int(c.hostTTY.Fd()), old)
			}
		}
		outputDone = relayTerminal(c.master, c.cfg.Stdin, c.cfg.Stdout)
	}
	resize := func(sig os.Signal) bool {
		if sig != syscall.SIGWINCH || c.master == nil || c.hostTTY == nil {
			return false
		}
		if size, err := terminal.GetSize(c.hostTTY); err == nil {
			_ = terminal.SetSize(c.master, size)
		}
		return true
	}
	c.waitErr = c.child.Wait(context.Background(), c.sigs, resize)
	if c.sigs != nil {
		signal.Stop(c.sigs)
	}
	if c.ended != nil {
		<-c.ended
	}
	var afterExit chan struct{}
	if c.cfg.AfterExit != nil {
		afterExit = make(chan struct{})
		go func() {
			defer close(afterExit)
			c.cfg.AfterExit()
		}()
	}
	if c.network != nil {
		if err := c.network.Close(); err != nil {
			slog.Warn("network", "err", err)
		}
	}
	outputDone()
	c.child.Sync.Close()
	c.removeCgroup()
	if c.child.Cmd.ProcessState != nil {
		c.waitErr = nil
		c.code = stage.ExitCode(c.child.Cmd.ProcessState)
		if !c.cfg.AutoRemove {
			writeExit(c.dir, c.code)
			_ = c.sd.setState(Stopped, c.pid)
		}
		slog.Debug("container exited", "id", c.id, "status", c.code)
	} else {
		c.waitErr = fmt.Errorf("wait for container: %w", c.waitErr)
	}
	if afterExit != nil {
		<-afterExit
	}
}

// Wait waits for the container's processes to end and returns the
// command's exit status (128+N when signal N killed it; -1 when it cannot
// be known: see State.ExitCode). When ctx is done first it returns ctx's
// error; the container goes on.
func (c *Container) Wait(ctx context.Context) (int, error) {
	if c.child != nil {
		select {
		case <-c.done:
			return c.code, c.waitErr
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
	if err := waitGone(ctx, c.pid, c.startTime()); err != nil {
		return -1, err
	}
	return readExit(c.dir), nil
}

// startTime returns the recorded start time of the container's first
// process (0 when unknown).
func (c *Container) startTime() uint64 {
	raw, err := readRawState(c.dir)
	if err != nil {
		return 0
	}
	return raw.startTime
}

// Signal sends sig to the container: to rless's init, which passes it on
// to the command, or to the command itself with init disabled.
func (c *Container) Signal(sig syscall.Signal) error {
	if c.child != nil {
		select {
		case <-c.done:
			return fmt.Errorf("container %s is stopped", c.id)
		default:
		}
		if err := c.child.Cmd.Process.Signal(sig); err != nil {
			return fmt.Errorf("signal container %s: %w", c.id, err)
		}
		return nil
	}
	if err := signalProcess(c.pid, c.startTime(), sig); err != nil {
		return fmt.Errorf("signal container %s: %w", c.id, err)
	}
	return nil
}

// Stop stops the container: its stop signal (the spec's, see
// spec.StopSignal), then SIGKILL if it has not ended timeout later (0:
// the Config's StopTimeout, else DefaultStopTimeout). It returns once the
// container's processes are gone.
func (c *Container) Stop(ctx context.Context, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = c.cfg.StopTimeout
	}
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	sig := syscall.SIGTERM
	if st, err := c.State(); err == nil {
		if st.Status == Stopped {
			return nil
		}
		if st.Spec != nil {
			sig = spec.StopSignal(st.Spec)
		}
	}
	slog.Debug("stopping container", "signal", sig, "timeout", timeout)
	if err := c.Signal(sig); err != nil {
		if st, serr := c.State(); serr == nil && st.Status == Stopped {
			return nil
		}
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	_, err := c.Wait(wctx)
	cancel()
	if err == nil || ctx.Err() != nil {
		return ctx.Err()
	}
	slog.Debug("killing container", "id", c.id)
	_ = c.Signal(syscall.SIGKILL)
	_, err = c.Wait(ctx)
	return err
}

// State returns the container's state.
func (c *Container) State() (State, error) {
	st, err := readState(c.dir, true, true)
	if err != nil {
		if c.child != nil {
			select {
			case <-c.done:
				// An auto-removed container's state goes with it.
				return State{ID: c.id, Status: Stopped, ExitCode: c.code, Dir: c.dir}, nil
			default:
			}
		}
		return State{}, fmt.Errorf("container %s: %w", c.id, err)
	}
	if c.child != nil && st.Status == Stopped {
		select {
		case <-c.done:
			st.ExitCode = c.code
		default:
			// Its init is gone, the creator not done cleaning up.
			st.Status = Running
		}
	}
	return st, nil
}

// ErrRunning is returned by Delete for a container that is not stopped,
// unless forced.
var ErrRunning = errors.New("container is running")

// Delete removes the container's state (what the kernel held went with
// its processes). A container that is not stopped is refused with
// ErrRunning, unless force, which kills it first.
func (c *Container) Delete(ctx context.Context, force bool) error {
	if c.child != nil {
		select {
		case <-c.done:
		default:
			if !force {
				return fmt.Errorf("container %s: %w", c.id, ErrRunning)
			}
			_ = c.child.Cmd.Process.Kill()
			<-c.done
		}
	} else {
		st, err := c.State()
		if err != nil {
			return err
		}
		if st.Status != Stopped {
			if !force {
				return fmt.Errorf("container %s: %w", c.id, ErrRunning)
			}
			_ = c.Signal(syscall.SIGKILL)
			if _, err := c.Wait(ctx); err != nil {
				return fmt.Errorf("delete container %s: %w", c.id, err)
			}
		}
	}
	if err := c.sd.remove(); err != nil {
		return fmt.Errorf("delete container %s: %w", c.id, err)
	}
	if c.child == nil {
		if d := cgroups.Detect(); d.Dir != "" {
			_ = cgroups.Remove(filepath.Join(d.Dir, "rless.slice", c.id))
		}
	}
	return nil
}

func (c *Container) removeCgroup() {
	if c.cgroup == "" {
		return
	}
	if err := cgroups.Remove(c.cgroup); err != nil {
		slog.Warn("leaving a cgroup behind", "err", err)
	}
	c.cgroup = ""
}

// Load returns a handle on container id of runRoot ("": DefaultRunRoot),
// made by any process of this user.
func Load(runRoot, id string) (*Container, error) {
	if runRoot == "" {
		runRoot = DefaultRunRoot()
	}
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(runRoot, id)
	raw, err := readRawState(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no such container %s: %w", id, ErrNotExist)
		}
		return nil, err
	}
	return &Container{
		id: id, dir: dir, pid: raw.Pid, done: make(chan struct{}),
		sd: &stateDir{dir: dir, id: id, bundle: raw.Bundle, autoRemove: raw.autoRemove, created: raw.created, creator: raw.creator},
	}, nil
}

// ErrNotExist is returned (wrapped) by Load for a container that is not
// there.
var ErrNotExist = errors.New("no such container")

// createCgroup makes the container's cgroup when r asks for limits a
// cgroup enforces, and returns "" when it does not.
func createCgroup(id string, r *specs.LinuxResources) (string, error) {
	if len(cgroups.Controllers(r)) == 0 {
		return "", nil
	}
	return cgroups.Create(cgroups.Detect(), id, r)
}

// startLocked starts the child (stage.Start) from the spawning thread, a
// thread locked to a goroutine of its own for as long as this process
// lives: the child dies with the thread that cloned it (Pdeathsig), which
// no other goroutine may end, and one thread serves all the children of a
// process (a supervisor of a hundred containers holds one, not a hundred
// idle ones). The caller's goroutine stays free to move between threads,
// which costs less each time it waits.
func startLocked(opts stage.SpawnOptions) (*stage.Child, error) {
	var c *stage.Child
	var err error
	onSpawnThread(func() { c, err = stage.Start(opts) })
	return c, err
}

// spawner is the spawning thread's queue of work (see startLocked).
var spawner struct {
	once sync.Once
	work chan func()
}

// onSpawnThread runs f on the spawning thread and returns when f has.
func onSpawnThread(f func()) {
	spawner.once.Do(func() {
		spawner.work = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range spawner.work {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawner.work <- func() {
		defer close(done)
		f()
	}
	<-done
}

// relayTerminal copies stdin (if not nil) to the pty master and the master
// to stdout, and returns a function that waits until all the command wrote
// is copied (the master reads EIO once the command's side is closed). The
// stdin copy ends when stdin does.
func relayTerminal(master *os.File, stdin io.Reader, stdout io.Writer) (wait func()) {
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(stdout, master)
	}()
	return func() { <-done }
}

// cloneFlags returns the namespaces to create for s, without the user
// namespace (which Spawn adds).
func cloneFlags(s *specs.Spec) uintptr {
	flags := map[specs.LinuxNamespaceType]uintptr{
		specs.MountNamespace: syscall.CLONE_NEWNS, specs.PIDNamespace: syscall.CLONE_NEWPID,
		specs.NetworkNamespace: syscall.CLONE_NEWNET, specs.UTSNamespace: syscall.CLONE_NEWUTS,
		specs.IPCNamespace: syscall.CLONE_NEWIPC, specs.CgroupNamespace: syscall.CLONE_NEWCGROUP,
	}
	var f uintptr
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" {
			f |= flags[ns.Type]
		}
	}
	return f
}

// Resize sets the size of the container's pseudo-terminal (rows and
// columns), for its creator's handle of a container with a terminal.
func (c *Container) Resize(rows, cols uint16) error {
	if c.master == nil {
		return fmt.Errorf("container %s has no terminal of this process's", c.id)
	}
	return terminal.SetSize(c.master, terminal.Size{Rows: rows, Cols: cols})
}
