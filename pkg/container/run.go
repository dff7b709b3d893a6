// Package container runs OCI-spec containers rootless: it creates the
// namespaces (through the userns package), starts rless's in-container
// stage, relays stdio or a pseudo-terminal, forwards signals and returns the
// command's exit status.
//
// Every program that uses this package must call [Init] first thing in main:
// the containers' first process is the program itself, re-executed.
package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
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

// Config describes one container to run.
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
	// AttachTap serves the container's userspace network when its spec
	// asks for one (spec.NetworkSlirp): Run calls it with the tap device
	// the container's stage made, before the command starts, and closes
	// what it returns once the container has ended. It owns tap (and
	// closes it, on failure too): slirp.Start serves it in this process;
	// rless's command line hands it to a process of its own.
	AttachTap func(tap *os.File) (io.Closer, error)
	// ConnectNetwork connects the container's network namespace when its
	// spec names an external program for it (network.AnnotationExternal):
	// Run calls it with the pid of the container's first process once the
	// namespaces exist, the command starts after it returns, and what it
	// returns is closed once the container has ended.
	ConnectNetwork func(pid int) (io.Closer, error)
	// Prepare, if not nil, is called once the container's first process
	// exists, while its ids are mapped and before it builds the
	// container: for work the container needs (its root's storage, say)
	// that need not delay its start. An error fails the run.
	Prepare func() error
	// AfterExit, if not nil, is called as soon as the container's
	// processes are all gone (not if it never started), alongside Run's own
	// clean-up; Run returns after it has returned. rless removes the
	// container's storage there.
	AfterExit func()
	// StopTimeout is how long a container has to end after its stop
	// signal (spec.StopSignal) before it is killed, when the context is
	// done; 0 is DefaultStopTimeout.
	StopTimeout time.Duration
}

// DefaultStopTimeout is podman's: 10 seconds.
const DefaultStopTimeout = 10 * time.Second

// proxied are the signals Run forwards when Config.ProxySignals is set.
var proxied = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// Run creates the container cfg describes, runs its command to the end and
// returns the command's exit status (128+N when signal N killed it). An
// error means the container could not be created or its command not started;
// it is an *Error carrying the exit status to use. When ctx is done the
// container is stopped: it gets its stop signal, and is killed if it has not
// ended StopTimeout later. Nothing of the container is left when Run returns.
func Run(ctx context.Context, cfg Config) (int, error) {
	code, err := run(ctx, cfg)
	return code, failed(err)
}

func run(ctx context.Context, cfg Config) (int, error) {
	// Registered first, so that it waits for AfterExit last.
	var afterExit chan struct{}
	defer func() {
		if afterExit != nil {
			<-afterExit
		}
	}()
	s := cfg.Spec
	if s == nil || s.Process == nil || s.Linux == nil {
		return 0, errors.New("incomplete spec: no process or linux section")
	}
	if cfg.Host == nil {
		return 0, errors.New("no host description (userns.DetectHost)")
	}
	if err := checkSpec(s); err != nil {
		return 0, err
	}
	if _, ok := s.Annotations[network.AnnotationTap]; ok && cfg.AttachTap == nil {
		return 0, errors.New("the spec asks for a userspace network but Config.AttachTap is nil")
	}
	if _, ok := s.Annotations[network.AnnotationExternal]; ok && cfg.ConnectNetwork == nil {
		return 0, errors.New("the spec asks for an external network program but Config.ConnectNetwork is nil")
	}
	id := cfg.ID
	if id == "" {
		id = NewID()
	}
	if err := ValidateID(id); err != nil {
		return 0, err
	}
	runRoot := cfg.RunRoot
	if runRoot == "" {
		runRoot = DefaultRunRoot()
	}
	tty := s.Process.Terminal
	// hostTTY is the terminal rless runs on, if any: put in raw mode when
	// it is stdin, and followed for the window size.
	var hostTTY *os.File
	if tty {
		for _, s := range []any{cfg.Stdin, cfg.Stdout} {
			if f, ok := s.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				hostTTY = f
				break
			}
		}
	}
	if hostTTY != nil && s.Process.ConsoleSize == nil {
		if size, err := terminal.GetSize(hostTTY); err == nil {
			s.Process.ConsoleSize = &specs.Box{Height: uint(size.Rows), Width: uint(size.Cols)}
		}
	}
	dir := filepath.Join(runRoot, id)

	// Start the child first: its start and the id-mapping helpers take
	// longest, and the state directory is written meanwhile (the child
	// reads it once released).
	cgroup, err := createCgroup(id, s.Linux.Resources)
	if err != nil {
		return 0, err
	}
	if cgroup != "" {
		defer func() {
			if err := cgroups.Remove(cgroup); err != nil {
				slog.Warn("leaving a cgroup behind", "err", err)
			}
		}()
	}
	opts := userns.SpawnOptions{
		Cgroup:     cgroup,
		Stage:      InitStage,
		Args:       []string{dir},
		Cloneflags: cloneFlags(s),
		Env:        []string{},
		Setsid:     true,
		Stderr:     cfg.Stderr,
		Host:       cfg.Host,
		Mapping:    cfg.Mapping,
	}
	if !tty {
		opts.Stdin, opts.Stdout = cfg.Stdin, cfg.Stdout
	}
	if lvl := os.Getenv(logging.Env); lvl != "" {
		opts.Env = append(opts.Env, logging.Env+"="+lvl)
	}
	// This process's GOMAXPROCS, which took the cgroup's CPU limit into
	// account: given, it spares the container's runtime reading its cgroup
	// files again on the critical path.
	opts.Env = append(opts.Env, "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
	slog.Debug("spawn container init")
	child, done, err := startLocked(opts)
	if err != nil {
		return 0, err
	}
	defer done()
	mapped := make(chan error, 1)
	written := make(chan struct{})
	go func() { mapped <- child.Map(ctx, func() { <-written }) }()
	is := initSpec{spec: s}
	if s.Linux.Seccomp != nil {
		is.seccomp, err = seccomp.Cache{Dir: filepath.Join(runRoot, ".seccomp")}.Compile(s.Linux.Seccomp)
	}
	var b *bundle
	if err == nil {
		b, err = createBundle(dir, is, id, child.Cmd.Process.Pid)
	}
	close(written)
	if err == nil {
		defer b.remove()
		if cfg.Prepare != nil {
			err = cfg.Prepare()
		}
	}
	// Signals are forwarded from before the child may start the command.
	var sigs chan os.Signal
	if cfg.ProxySignals {
		sigs = make(chan os.Signal, 16)
		signal.Notify(sigs, proxied...)
		defer signal.Stop(sigs)
	}
	err = errors.Join(err, <-mapped)
	if err == nil {
		err = child.Release()
	}
	if err != nil {
		child.Kill()
		return 0, err
	}
	defer child.Sync.Close()
	pid := child.Cmd.Process.Pid
	slog.Debug("container started", "id", id, "pid", pid)
	if _, ok := s.Annotations[network.AnnotationExternal]; ok {
		ext, err := cfg.ConnectNetwork(pid)
		if err == nil {
			defer ext.Close()
			err = child.Sync.Send(syncmsg.Msg{Type: syncmsg.NetReady})
		}
		if err != nil {
			child.Kill()
			return 0, fmt.Errorf("connect the network: %w", err)
		}
	}

	master, net, started, err := awaitStart(child, cfg.AttachTap)
	if net != nil {
		defer func() {
			if err := net.Close(); err != nil {
				slog.Warn("network stack", "err", err)
			}
		}()
	}
	if err != nil {
		child.Kill()
		return 0, err
	}
	_ = b.setState(id, string(specs.StateRunning), pid)
	removeStale(runRoot) // while the command runs
	slog.Debug("command started")
	var ended chan struct{}
	if started {
		// rless's init says when the command has ended (or its socket
		// closes as it dies): the state directory goes then, while the
		// kernel takes the namespaces down.
		ended = make(chan struct{})
		go func() {
			defer close(ended)
			_, _, _ = child.Sync.Recv()
			if err := b.remove(); err != nil {
				slog.Warn("removing the state directory", "err", err)
			}
		}()
	}

	outputDone := func() {}
	if master != nil {
		defer master.Close()
		if hostTTY != nil && hostTTY == cfg.Stdin {
			if old, err := term.MakeRaw(int(hostTTY.Fd())); err == nil {
				defer term.Restore(int(hostTTY.Fd()), old)
			}
		}
		outputDone = relayTerminal(master, cfg.Stdin, cfg.Stdout)
	}

	resize := func(sig os.Signal) bool {
		if sig != syscall.SIGWINCH || master == nil || hostTTY == nil {
			return false
		}
		if size, err := terminal.GetSize(hostTTY); err == nil {
			_ = terminal.SetSize(master, size)
		}
		return true
	}
	waitCtx, release := stopping(ctx, child, s, cfg.StopTimeout)
	waitErr := child.Wait(waitCtx, sigs, resize)
	release()
	if ended != nil {
		<-ended
	}
	if cfg.AfterExit != nil && child.Cmd.ProcessState != nil {
		afterExit = make(chan struct{})
		go func() {
			defer close(afterExit)
			cfg.AfterExit()
		}()
	}
	outputDone()
	if child.Cmd.ProcessState == nil {
		return 0, fmt.Errorf("wait for container: %w", waitErr)
	}
	code := userns.ExitCode(child.Cmd.ProcessState)
	slog.Debug("container exited", "id", id, "status", code)
	return code, nil
}

// stopping returns a context that is done timeout after ctx is, when the
// container, sent its stop signal as ctx ended, is to be killed; release
// frees what it holds once the container has ended.
func stopping(ctx context.Context, child *userns.Child, s *specs.Spec, timeout time.Duration) (kill context.Context, release func()) {
	if ctx.Done() == nil {
		return ctx, func() {}
	}
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	kill, cancel := context.WithCancel(context.Background())
	timers := make(chan *time.Timer, 1)
	stop := context.AfterFunc(ctx, func() {
		sig := spec.StopSignal(s)
		slog.Debug("stopping container", "signal", sig, "timeout", timeout)
		_ = child.Cmd.Process.Signal(sig)
		timers <- time.AfterFunc(timeout, cancel)
	})
	return kill, func() {
		if !stop() {
			// The stop began: wait for its timer, to stop it.
			(<-timers).Stop()
		}
		cancel()
	}
}

// createCgroup makes the container's cgroup when r asks for limits a
// cgroup enforces, and returns "" when it does not.
func createCgroup(id string, r *specs.LinuxResources) (string, error) {
	if len(cgroups.Controllers(r)) == 0 {
		return "", nil
	}
	return cgroups.Create(cgroups.Detect(), id, r)
}

// awaitStart reads the child's messages until it has started the command
// or executed it in its place (started is false then), and returns the pty
// master it sent, if any, and the network attach made of the tap it sent,
// if any.
func awaitStart(child *userns.Child, attach func(*os.File) (io.Closer, error)) (master *os.File, net io.Closer, started bool, err error) {
	for {
		m, fds, err := child.Sync.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return master, net, false, nil // the command was executed in place of the stage
		case err != nil:
		case m.Type == syncmsg.PTY && len(fds) == 1:
			master = os.NewFile(uintptr(fds[0]), "ptmx")
			continue
		case m.Type == syncmsg.Tap && len(fds) == 1 && attach != nil && net == nil:
			net, err = attach(os.NewFile(uintptr(fds[0]), "tap"))
			if err == nil {
				continue
			}
			fds = nil // attach closed the tap
			err = fmt.Errorf("start the network: %w", err)
		case m.Type == syncmsg.Failed:
			err = &Error{Code: m.Code, Err: errors.New(m.Error)}
		case m.Type == syncmsg.Started:
			return master, net, true, nil
		default:
			err = fmt.Errorf("unexpected message %q from the container", m.Type)
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		if master != nil {
			master.Close()
		}
		return nil, net, false, err
	}
}

// startLocked starts the child (userns.Start) from a goroutine that keeps
// its thread locked until done is called: the child dies with the thread
// that cloned it (Pdeathsig), so no other goroutine may end that thread
// meanwhile. Run's own goroutine stays free to move between threads, which
// costs less each time it waits.
func startLocked(opts userns.SpawnOptions) (*userns.Child, func(), error) {
	type result struct {
		child *userns.Child
		err   error
	}
	started := make(chan result, 1)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c, err := userns.Start(opts)
		started <- result{c, err}
		if err == nil {
			<-release
		}
	}()
	r := <-started
	if r.err != nil {
		return nil, nil, r.err
	}
	return r.child, func() { close(release) }, nil
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
