package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/syncmsg"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/terminal"
	"golang.org/x/sys/unix"
)

// The exec agent. rless's init, already inside every namespace of the
// container, serves the SOCK_SEQPACKET socket ExecSocket in the container's
// state directory once the command runs. A connection carries one process,
// with syncmsg messages:
//
//	client → init  Exec     Data: execRequest as JSON; 3 descriptors (stdin,
//	                        stdout, stderr), or none with Process.Terminal
//	init → client  Started  Pid: the process's pid in the container's PID
//	                        namespace; carries the pty master with a terminal
//	          or   Failed   Error, Code (126, 127 or 125): nothing started
//	client → init  Signal   Code: a signal for the process (any number of times)
//	init → client  Exited   Code: its exit status (128+N for signal N); the
//	                        init then shuts the connection down
//
// Only the container's root, which is the user who runs the container, may
// connect (SO_PEERCRED). A connection closed early leaves the process
// running (detached). When the container's command ends, the init kills
// the exec'd processes and reports them killed before it ends.

// ExecSocket is the name of the exec agent's socket in a container's state
// directory.
const ExecSocket = "exec.sock"

// execRequest is the Data of an Exec message.
type execRequest struct {
	Process    *specs.Process `json:"process"`
	Privileged bool           `json:"privileged,omitempty"`
}

// openStateDir opens the state directory dir as a path, for the agent to
// bind its socket there once the root has been pivoted (through
// /proc/self/fd, which also keeps the address short).
func openStateDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open state directory %s: %w", dir, err)
	}
	return fd, nil
}

// agent starts processes in the container on request. Its fields are
// set before serve; mu guards execs and ended.
type agent struct {
	spec     *specs.Spec
	seccomp  []unix.SockFilter
	stateDir int
	// owner is the uid, in the container, of its user namespace's owner:
	// 0, or the user's own uid where only that is mapped (keep-id).
	owner uint32

	mu    sync.Mutex
	execs map[int]*execProc // running exec'd processes, by pid
	ended bool              // the command has ended: start nothing more
}

// execProc is a running exec'd process. mu guards conn and pidfd; the
// connection's handler owns conn and closes it.
type execProc struct {
	mu    sync.Mutex
	conn  *syncmsg.Conn // nil once detached
	pidfd int           // -1 once the process is reaped
}

func newAgent(p *process) *agent {
	return &agent{spec: p.spec, seccomp: p.seccomp, stateDir: p.stateDir, owner: ownerUID(), execs: map[int]*execProc{}}
}

// ownerUID returns the uid, in this process's user namespace, of the
// user who owns it (who made the container), or 0 when unknown.
func ownerUID() uint32 {
	f, err := os.Open("/proc/self/ns/user")
	if err != nil {
		return 0
	}
	defer f.Close()
	var uid uint32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.NS_GET_OWNER_UID, uintptr(unsafe.Pointer(&uid))); e != 0 {
		return 0
	}
	return uid
}

// serve serves the socket ln (see listen) until the init ends. A failure
// to bind (err) is logged: exec then fails, the container runs on.
func (a *agent) serve(ln int, err error) {
	if err != nil {
		slog.Warn("exec will not work in this container", "err", err)
		return
	}
	// Waited for in Go's poller, which parks this goroutine rather than
	// a thread of its own (a thread the init would start at every
	// container start).
	if err := unix.SetNonblock(ln, true); err != nil {
		slog.Warn("exec socket", "err", err)
		unix.Close(ln)
		return
	}
	f := os.NewFile(uintptr(ln), "exec.sock")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		slog.Warn("exec socket", "err", err)
		return
	}
	for {
		var fd int
		var aerr error
		err := rc.Read(func(s uintptr) bool {
			fd, _, aerr = unix.Accept4(int(s), unix.SOCK_CLOEXEC)
			return !errors.Is(aerr, unix.EAGAIN)
		})
		if err == nil {
			err = aerr
		}
		switch {
		case err == nil:
			go a.handle(syncmsg.FromFD(fd))
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
		default:
			slog.Warn("exec socket", "err", err)
			return
		}
	}
}

// listen binds and listens on the socket in the state directory, before
// the command starts: the init closes the directory then, so that no
// process of the container can reach it through /proc/1/fd.
func (a *agent) listen() (int, error) {
	if a.stateDir < 0 {
		return -1, errors.New("no state directory")
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("exec socket: %w", err)
	}
	addr := &unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(a.stateDir) + "/" + ExecSocket}
	if err := unix.Bind(fd, addr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind exec socket: %w", err)
	}
	// Connecting takes write permission on the socket: it is the
	// owner's, whom the init's uid is not where the owner's uid is not
	// the container's root (keep-id with a subordinate range).
	if a.owner != uint32(os.Getuid()) {
		if err := unix.Fchownat(a.stateDir, ExecSocket, int(a.owner), -1, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("exec socket: give it to its owner: %w", err)
		}
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen on exec socket: %w", err)
	}
	return fd, nil
}

// handle serves one connection: starts its process, then forwards its
// signals until the connection is closed (by the client, or by the init
// once the process has ended).
func (a *agent) handle(conn *syncmsg.Conn) {
	conn.SetLimit(syncmsg.MaxLimit)
	e, err := a.start(conn)
	if err != nil {
		_ = conn.Send(syncmsg.Msg{Type: syncmsg.Failed, Error: err.Error(), Code: ExitCodeOf(err)})
		conn.Close()
		return
	}
	for {
		m, fds, err := conn.Recv()
		for _, fd := range fds {
			unix.Close(fd)
		}
		if err != nil {
			break
		}
		if m.Type == syncmsg.Signal {
			e.signal(m.Code)
		}
	}
	e.mu.Lock()
	e.conn = nil
	e.mu.Unlock()
	conn.Close()
}

// signal sends sig to the process unless it has been reaped (its pidfd
// cannot reach another process that took its pid).
func (e *execProc) signal(sig int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pidfd >= 0 && sig > 0 && sig < 65 {
		_ = unix.PidfdSendSignal(e.pidfd, unix.Signal(sig), nil, 0)
	}
}

// exited reports the process's exit status to its client, if still
// connected, and ends the connection.
func (e *execProc) exited(code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pidfd >= 0 {
		unix.Close(e.pidfd)
		e.pidfd = -1
	}
	if e.conn != nil {
		_ = e.conn.Send(syncmsg.Msg{Type: syncmsg.Exited, Code: code})
		// Wakes the handler, which closes the connection.
		_ = unix.Shutdown(int(e.conn.File().Fd()), unix.SHUT_RDWR)
	}
}

// reaped routes the exit of pid, reaped by the init, to its client.
func (a *agent) reaped(pid int, ws syscall.WaitStatus) {
	a.mu.Lock()
	e := a.execs[pid]
	delete(a.execs, pid)
	a.mu.Unlock()
	if e != nil {
		e.exited(exitStatus(ws))
	}
}

// containerEnded kills the exec'd processes, which the kernel is about to
// kill with the PID namespace anyway, and reports them killed.
func (a *agent) containerEnded() {
	a.mu.Lock()
	a.ended = true
	execs := a.execs
	a.execs = nil
	a.mu.Unlock()
	for _, e := range execs {
		e.signal(int(unix.SIGKILL))
		e.exited(128 + int(unix.SIGKILL))
	}
}

// exitStatus is a shell's $? for ws: 128+N when signal N killed it.
func exitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// start reads the request on conn and starts its process, which it
// registers for the reaper and reports to the client as started.
func (a *agent) start(conn *syncmsg.Conn) (*execProc, error) {
	// The request is read before the peer is checked, so that a refused
	// client reads why rather than a reset connection.
	m, fds, err := conn.Recv()
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), "stdio")
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	cred, err := unix.GetsockoptUcred(int(conn.File().Fd()), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return nil, fmt.Errorf("exec: peer credentials: %w", err)
	}
	if cred.Uid != 0 && cred.Uid != a.owner {
		return nil, fmt.Errorf("exec: permission denied to uid %d (only the container's owner may exec)", cred.Uid)
	}
	if m.Type != syncmsg.Exec {
		return nil, fmt.Errorf("exec: unexpected message %q", m.Type)
	}
	var req execRequest
	if err := json.Unmarshal([]byte(m.Data), &req); err != nil {
		return nil, fmt.Errorf("exec: decode request: %w", err)
	}
	proc, err := a.process(req)
	if err != nil {
		return nil, err
	}
	if want := 3 * btoi(!proc.Terminal); len(files) != want {
		return nil, fmt.Errorf("exec: %d descriptors for the standard streams, want %d", len(files), want)
	}
	var stdio []uintptr
	for _, f := range files {
		stdio = append(stdio, f.Fd())
	}
	filter := a.seccomp
	if req.Privileged {
		filter = nil
	}
	if name := proc.User.Username; name != "" {
		// user[:group] by name or number, from the container's files.
		u, _, err := spec.ResolveUser("/", name)
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		proc.User = u
	}
	if err := checkIDs(a.spec, proc.User); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(proc.Cwd); err != nil {
		return nil, fmt.Errorf("working directory %s: %w", proc.Cwd, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("working directory %s: not a directory", proc.Cwd)
	}
	path, err := lookPath(proc.Cwd, proc.Args[0], proc.Env)
	if err != nil {
		return nil, err
	}
	var master *os.File
	if proc.Terminal {
		m, slave, _, err := terminal.Open("/dev/ptmx")
		if err != nil {
			return nil, err
		}
		master = m
		defer master.Close()
		if b := proc.ConsoleSize; b != nil {
			_ = terminal.SetSize(slave, terminal.Size{Rows: uint16(b.Height), Cols: uint16(b.Width)})
		}
		files = []*os.File{slave} // closed on return, as the others
		fd := slave.Fd()
		stdio = []uintptr{fd, fd, fd}
	}

	e := &execProc{conn: conn, pidfd: -1}
	// Locked until the client knows the pid: its exit, which the reaper
	// may see at once, is reported after.
	e.mu.Lock()
	defer e.mu.Unlock()
	a.mu.Lock()
	if a.ended {
		a.mu.Unlock()
		return nil, errors.New("exec: the container is stopping")
	}
	pid, pidfd, err := a.fork(proc, filter, path, stdio)
	if err == nil {
		e.pidfd = pidfd
		a.execs[pid] = e
	}
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	slog.Debug("exec'd", "pid", pid, "args", proc.Args)
	msg := syncmsg.Msg{Type: syncmsg.Started, Pid: pid}
	if master != nil {
		err = conn.Send(msg, int(master.Fd()))
	} else {
		err = conn.Send(msg)
	}
	if err != nil {
		slog.Debug("exec: client gone", "err", err)
	}
	return e, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// process returns the process req asks for, with the container's
// defaults: its environment for nil Env, its working directory for an
// empty Cwd, its capabilities for nil Capabilities (all with Privileged),
// and its no_new_privs if set.
// nil Rlimits keeps the container's, which the init has.
func (a *agent) process(req execRequest) (*specs.Process, error) {
	if req.Process == nil || len(req.Process.Args) == 0 || req.Process.Args[0] == "" {
		return nil, errors.New("exec: no command")
	}
	p := *req.Process
	c := a.spec.Process
	if p.Env == nil {
		p.Env = c.Env
	}
	if p.Cwd == "" {
		p.Cwd = c.Cwd
	}
	// The container's no_new_privs cannot be dropped.
	p.NoNewPrivileges = p.NoNewPrivileges || c.NoNewPrivileges
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if !filepath.IsAbs(p.Cwd) {
		return nil, fmt.Errorf("exec: working directory %q is not absolute", p.Cwd)
	}
	switch {
	case req.Privileged:
		p.Capabilities = nil // all the init has: every capability
	case p.Capabilities == nil:
		p.Capabilities = c.Capabilities
	}
	return &p, nil
}

// fork starts proc (path resolved) with files as its stdio, confined as
// the container's command is (with filter as its seccomp filter), and
// returns its pid and a pidfd for it. The caller holds a.mu.
func (a *agent) fork(proc *specs.Process, filter []unix.SockFilter, path string, stdio []uintptr) (pid, pidfd int, err error) {
	// Resource limits belong to the whole init: set them around the fork
	// (see rlimitPlan).
	var before, restore, after []limitChange
	if len(proc.Rlimits) > 0 {
		before, restore, after, err = rlimitPlan(proc.Rlimits, getRlimit)
		if err != nil {
			return 0, -1, err
		}
		// A hard limit below the container's could only be set on the
		// process once it runs, after it may have read it: refused.
		if len(after) > 0 {
			l := after[0]
			return 0, -1, errorf(ExitRlessFailed, "exec: a hard %s of %d, below the container's, is not supported: the hard limits are the container's", l.name, l.limit.Max)
		}
		defer func() {
			for _, l := range restore {
				_ = setOwnRlimit(l.resource, &l.limit)
			}
		}()
		for _, l := range before {
			if err := setOwnRlimit(l.resource, &l.limit); err != nil {
				return 0, -1, fmt.Errorf("set %s to %d:%d: %w (a hard limit can only be lowered)", l.name, l.limit.Cur, l.limit.Max, err)
			}
		}
	}
	noLimits := *proc
	noLimits.Rlimits = nil

	type result struct {
		pid, pidfd int
		err        error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, confined for good, ends with the
		// goroutine.
		runtime.LockOSThread()
		if err := confine(&noLimits, filter); err != nil {
			done <- result{err: err}
			return
		}
		pidfd := -1
		sys := &syscall.SysProcAttr{PidFD: &pidfd}
		if proc.Terminal {
			sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
		}
		pid, err := syscall.ForkExec(path, proc.Args, &syscall.ProcAttr{Dir: proc.Cwd, Env: proc.Env, Files: stdio, Sys: sys})
		if err != nil {
			err = execError(path, err)
		}
		done <- result{pid, pidfd, err}
	}()
	r := <-done
	if r.err != nil {
		return 0, -1, r.err
	}
	return r.pid, r.pidfd, nil
}

// limitChange is one resource limit to set.
type limitChange struct {
	name     string
	resource int
	limit    unix.Rlimit
}

func getRlimit(resource int) (unix.Rlimit, error) {
	var l unix.Rlimit
	err := unix.Prlimit(0, resource, nil, &l)
	return l, err
}

// setOwnRlimit sets a limit of the init for a while, with the raw system
// call: Go's would make later forks keep the init's RLIMIT_NOFILE instead of
// the one it started with (Go raises its own soft limit at start and
// restores it in the processes it starts, unless told of a change).
func setOwnRlimit(resource int, l *unix.Rlimit) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(resource), uintptr(unsafe.Pointer(l)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// rlimitPlan says how to give a forked process the limits rs while the
// init keeps its own (current returns them), since limits belong to a
// process and a hard limit, once lowered, cannot be raised again: before
// the fork the init takes the soft limits of rs and the hard limits of rs
// that are not lower than its own; restore gives it its own back after the
// fork; after is what to set on the new process then (the hard limits that
// are lower than the init's).
func rlimitPlan(rs []specs.POSIXRlimit, current func(int) (unix.Rlimit, error)) (before, restore, after []limitChange, err error) {
	for _, r := range rs {
		t, ok := rlimitTypes[r.Type]
		if !ok {
			return nil, nil, nil, fmt.Errorf("unknown resource limit %q", r.Type)
		}
		if r.Soft > r.Hard {
			return nil, nil, nil, fmt.Errorf("%s: soft limit %d above the hard limit %d", r.Type, r.Soft, r.Hard)
		}
		cur, err := current(t)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read %s: %w", r.Type, err)
		}
		restore = append(restore, limitChange{r.Type, t, cur})
		want := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if r.Hard < cur.Max {
			before = append(before, limitChange{r.Type, t, unix.Rlimit{Cur: r.Soft, Max: cur.Max}})
			after = append(after, limitChange{r.Type, t, want})
		} else {
			before = append(before, limitChange{r.Type, t, want})
		}
	}
	return before, restore, after, nil
}
