package container

import (
	"errors"
	"fmt"
	"github.com/rless/rless/internal/stage"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/syncmsg"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/network/relay"
	"github.com/rless/rless/pkg/rootfs"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/terminal"
	"github.com/rless/rless/pkg/userns"
	"golang.org/x/sys/unix"
)

// containerInit is the container's first process. It finishes the
// container from inside (hostname, loopback, root filesystem, masked
// paths, terminal) and then, confined (see confine), either executes the
// command in its place or, with rless's init, starts it and stays as PID 1.
// It returns the exit status.
func containerInit() int {
	// The parent-death signal is set on this thread, which must outlive
	// the process: the main thread, locked for good.
	runtime.LockOSThread()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "Error: rless init: no state directory")
		return ExitRlessFailed
	}
	if os.Args[1] == stage.SpareArg {
		// Started ahead (see spare.go): the container is told later.
		arg, err := stage.AwaitClaim()
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			return ExitRlessFailed
		}
		os.Args[1] = arg
	}
	// The spec is read, and what needs no identity done, while the gids
	// are mapped.
	specc := make(chan specResult, 1)
	conn, err := stage.WaitMapped(func() {
		go func() {
			is, err := readInitSpec(os.Args[1])
			stateDir := -1
			if err != nil {
				err = fmt.Errorf("read container spec: %w", err)
			} else {
				err = nameAndLoopback(is)
			}
			if err == nil {
				// For the barrier, the exit status and the exec agent
				// (which binds its socket there once the command runs,
				// see agent.go and agentproc.go), after pivot_root.
				stateDir, err = openStateDir(os.Args[1])
			}
			specc <- specResult{is, stateDir, err}
		}()
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return ExitRlessFailed
	}
	unix.CloseOnExec(stage.SyncFD)
	slog.Debug("mapped")
	r := <-specc
	p, err := prepare(conn, r)
	if err != nil {
		code := ExitCodeOf(err)
		if sendErr := conn.Send(syncmsg.Msg{Type: syncmsg.Failed, Error: err.Error(), Code: code}); sendErr != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		}
		return code
	}
	slog.Debug("container ready", "command", p.path)
	if r.barrier {
		// Created: the command starts once Start opens the barrier.
		if err := conn.Send(syncmsg.Msg{Type: syncmsg.Created}); err != nil && !stage.Detached() {
			return ExitRlessFailed
		}
		fd, err := waitBarrier(p.stateDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			return ExitRlessFailed
		}
		p.barrier = fd
	}
	if p.spec.Process == nil {
		unix.Close(p.barrier)
		return 0
	}
	if spec.InitEnabled(p.spec) {
		return p.runInit(conn)
	}
	if p.stateDir >= 0 {
		p.startAgentProcess()
		unix.Close(p.stateDir)
		p.stateDir = -1
	}
	err = p.exec()
	code := ExitCodeOf(err)
	_ = conn.Send(syncmsg.Msg{Type: syncmsg.Failed, Error: err.Error(), Code: code})
	return code
}

type specResult struct {
	initSpec
	stateDir int // the state directory, opened O_PATH before the root changes; else -1
	err      error
}

// process is the prepared command of a container.
type process struct {
	spec  *specs.Spec
	path  string   // resolved executable
	stdio *os.File // the pty slave, or nil to keep fds 0-2

	seccomp []unix.SockFilter // the filter to install, if any

	stateDir int // with rless's init: the state directory, opened O_PATH; else -1

	// barrier is the start fifo's writing end once started (see
	// waitBarrier), closed once the command is executed; else -1.
	barrier int

	// With rless's init: the signals it forwards, subscribed to in the
	// background; sigsReady is closed once they are (the kernel drops a
	// signal sent to a PID namespace's init that has no handler for it).
	sigs      chan os.Signal
	sigsReady chan struct{}
	// spared is closed once the init's spare threads are made (see
	// spareThreads), also in the background.
	spared chan struct{}

	// relay is the namespace's end of the loopback relay the init serves
	// (see package relay), or nil.
	relay *os.File
}

// prepare builds the container around this process and resolves the
// command, without starting it.
func prepare(conn *syncmsg.Conn, r specResult) (*process, error) {
	s, err := r.spec, r.err
	if err != nil {
		return nil, err
	}
	p := &process{spec: s, seccomp: r.seccomp, stateDir: r.stateDir, barrier: -1}
	if spec.InitEnabled(s) {
		// Installing the handlers takes a while: do it alongside the mounts.
		p.sigs = make(chan os.Signal, 64)
		sigs := forwarded
		if stop := spec.StopSignal(s); !slices.Contains(sigs, os.Signal(stop)) {
			sigs = append(slices.Clip(sigs), stop)
		}
		p.sigsReady = make(chan struct{})
		go func() {
			signal.Notify(p.sigs, sigs...)
			close(p.sigsReady)
		}()
		p.spared = make(chan struct{})
		go func() {
			spareThreads(4)
			close(p.spared)
		}()
	}
	if r.tap != nil {
		// The tap goes to the parent, for its network driver; with
		// rless's init, so does the host's end of the loopback relay
		// (see package relay), which the init serves.
		var err error
		if p.relay, err = sendTap(conn, *r.tap, spec.InitEnabled(s) && s.Process != nil); err != nil {
			return nil, err
		}
	}
	if err := rootfs.Setup(s); err != nil {
		return nil, err
	}
	if err := setSysctls(s.Linux.Sysctl); err != nil {
		return nil, err
	}
	if err := rootfs.ReadonlyPaths(s.Linux.ReadonlyPaths); err != nil {
		return nil, err
	}
	if err := rootfs.MaskPaths(s.Linux.MaskedPaths); err != nil {
		return nil, err
	}
	slog.Debug("rootfs ready")
	if s.Process == nil {
		return p, nil // nothing to run: Start ends the container
	}
	if s.Process.Terminal {
		master, slave, _, err := terminal.Open("/dev/ptmx")
		if err != nil {
			return nil, err
		}
		if b := s.Process.ConsoleSize; b != nil {
			_ = terminal.SetSize(slave, terminal.Size{Rows: uint16(b.Height), Cols: uint16(b.Width)})
		}
		err = conn.Send(syncmsg.Msg{Type: syncmsg.PTY}, int(master.Fd()))
		master.Close()
		if err != nil {
			return nil, err
		}
		p.stdio = slave
	}
	if err := enterCwd(s.Process.Cwd); err != nil {
		return nil, err
	}
	if err := checkUser(s); err != nil {
		return nil, err
	}
	if !spec.Idle(s) {
		if p.path, err = lookPath("", s.Process.Args[0], s.Process.Env); err != nil {
			return p, err
		}
	}
	if r.waitNet {
		// The parent connects the namespace meanwhile (its network
		// driver's Attach).
		m, _, err := conn.Recv()
		if err != nil || m.Type != syncmsg.NetReady {
			return nil, fmt.Errorf("wait for the network to be connected: %v", err)
		}
	}
	return p, nil
}

// nameAndLoopback sets the hostname and, in a network namespace of its own
// without a userspace network (whose tap brings lo up), brings up lo.
func nameAndLoopback(is initSpec) error {
	s := is.spec
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if is.tap == nil && spec.HasNamespace(s, specs.NetworkNamespace) {
		return loopbackUp()
	}
	return nil
}

// sendTap creates the tap device cfg describes (with lo up) and sends it
// to the parent; withRelay also sends the host's end of a loopback relay
// and returns the namespace's end.
func sendTap(conn *syncmsg.Conn, cfg network.Config, withRelay bool) (*os.File, error) {
	tap, err := network.CreateTap(network.TapName, cfg)
	if err != nil {
		return nil, err
	}
	defer tap.Close()
	if !withRelay {
		return nil, conn.Send(syncmsg.Msg{Type: syncmsg.Tap}, int(tap.Fd()))
	}
	host, ns, err := relay.Pair()
	if err != nil {
		return nil, err
	}
	defer host.Close()
	if err := conn.Send(syncmsg.Msg{Type: syncmsg.Tap}, int(tap.Fd()), int(host.Fd())); err != nil {
		ns.Close()
		return nil, err
	}
	return ns, nil
}

// loopbackUp brings up lo in the new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up loopback: %w", err)
	}
	return nil
}

// enterCwd changes to the working directory, creating it if missing (as
// podman does).
func enterCwd(cwd string) error {
	if cwd == "" {
		cwd = "/"
	}
	if err := os.Chdir(cwd); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return fmt.Errorf("create working directory %s: %w", cwd, err)
		}
		return os.Chdir(cwd)
	} else if err != nil {
		return fmt.Errorf("working directory %s: %w", cwd, err)
	}
	return nil
}

// checkUser fails clearly when the process's ids are not mapped.
func checkUser(s *specs.Spec) error {
	return checkIDs(s, s.Process.User)
}

// checkIDs fails clearly when u's ids are not mapped in the user namespace
// of s.
func checkIDs(s *specs.Spec, u specs.User) error {
	if !spec.HasNamespace(s, specs.UserNamespace) {
		return nil // the caller's user namespace: its ids are what it maps
	}
	if _, ok := userns.HostID(s.Linux.UIDMappings, u.UID); !ok {
		return fmt.Errorf("uid %d is not mapped in the container's user namespace (the ranges of /etc/subuid map ids above 0)", u.UID)
	}
	for _, g := range append([]uint32{u.GID}, u.AdditionalGids...) {
		if _, ok := userns.HostID(s.Linux.GIDMappings, g); !ok {
			return fmt.Errorf("gid %d is not mapped in the container's user namespace (the ranges of /etc/subgid map ids above 0)", g)
		}
	}
	return nil
}

// lookPath finds the command in the container's PATH, the way the command
// would be found by a shell, and maps failures to podman's exit statuses.
// Relative paths are taken from directory cwd ("" is the current one).
func lookPath(cwd, name string, env []string) (string, error) {
	in := func(p string) string {
		if cwd == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(cwd, p)
	}
	if strings.Contains(name, "/") {
		return name, checkExecutable(in(name))
	}
	path := spec.DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		err := checkExecutable(in(p))
		if err == nil {
			return p, nil
		}
		if ExitCodeOf(err) == ExitCannotExec && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", errorf(ExitNotFound, "executable file %q not found in $PATH", name)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errorf(ExitNotFound, "executable file %q not found", p)
	case err != nil:
		return errorf(ExitCannotExec, "%s: %v", p, err)
	case fi.IsDir():
		return errorf(ExitCannotExec, "%s: is a directory", p)
	case fi.Mode()&0o111 == 0:
		return errorf(ExitCannotExec, "%s: permission denied", p)
	}
	return nil
}

// execError maps a failed execve to an *Error.
func execError(path string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		return errorf(ExitNotFound, "execute %s: %v", path, err)
	}
	return errorf(ExitCannotExec, "execute %s: %v", path, err)
}

func setgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(b)) == "deny"
}

// exec replaces this process with the command (rless's init disabled).
func (p *process) exec() error {
	if p.stdio != nil {
		for fd := 0; fd < 3; fd++ {
			if err := unix.Dup2(int(p.stdio.Fd()), fd); err != nil {
				return fmt.Errorf("terminal: %w", err)
			}
		}
		if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
			return fmt.Errorf("set controlling terminal: %w", err)
		}
	}
	if err := confine(p.spec.Process, p.seccomp); err != nil {
		return err
	}
	// Changing ids cleared the parent-death signal; the command must still
	// die with rless, unless the container outlives its creator.
	if !stage.Detached() {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0); e != 0 {
			return fmt.Errorf("set parent-death signal: %w", e)
		}
	}
	err := syscall.Exec(p.path, p.spec.Process.Args, p.spec.Process.Env)
	return execError(p.path, err)
}
