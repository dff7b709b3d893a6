package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/syncmsg"
	"golang.org/x/sys/unix"
)

// ExecConfig describes a process to start in a running container.
type ExecConfig struct {
	// Process is the process to start; Args is required. Unset fields take
	// the container's values: nil Env its environment, empty Cwd its
	// working directory, nil Capabilities its capabilities, nil Rlimits its
	// resource limits; the container's no_new_privs applies to it too.
	// User is taken as it is (the zero value is root).
	// With Terminal, the process gets a new pseudo-terminal of the
	// container as its controlling terminal and stdio, of ConsoleSize if
	// set.
	Process *specs.Process
	// Privileged gives the process every capability and no seccomp filter
	// (podman exec --privileged).
	Privileged bool
	// Stdin is the process's standard input; nil is /dev/null. With
	// Process.Terminal it is copied to the terminal, until it ends.
	Stdin io.Reader
	// Stdout and Stderr are its standard output and error; nil discards
	// them. With Process.Terminal the terminal's output goes to Stdout and
	// Stderr is unused. An *os.File is passed to the process as it is;
	// anything else gets what the process writes through a pipe.
	Stdout, Stderr io.Writer
}

// Process is a process started in a container by Exec.
type Process struct {
	pid    int
	master *os.File

	mu       sync.Mutex // guards conn's use for sending, ended and released
	conn     *syncmsg.Conn
	ended    bool
	released bool

	done    chan struct{} // closed once code and err are set
	code    int
	err     error
	stopCtx func() bool
}

// Exec starts a process in the running container whose state directory is
// dir (filepath.Join of its run root and its id). It returns once the
// process runs, or fails with an *Error whose Code is ExitNotFound or
// ExitCannotExec when the command cannot be found or executed, else
// ExitRlessFailed. The container must run rless's init, through which the
// process is started (in every namespace of the container, confined as its
// command is). When ctx is done before the process has ended, the process
// is killed. The container ending kills the process.
func Exec(ctx context.Context, dir string, cfg ExecConfig) (*Process, error) {
	p, err := execProcess(ctx, dir, cfg)
	if err != nil {
		return nil, failed(err)
	}
	return p, nil
}

func execProcess(ctx context.Context, dir string, cfg ExecConfig) (*Process, error) {
	if cfg.Process == nil || len(cfg.Process.Args) == 0 || cfg.Process.Args[0] == "" {
		return nil, errors.New("exec: no command")
	}
	id := filepath.Base(dir)
	// Its spec is there while it is (the init reads it itself; decoding
	// it here would cost a start of exec a millisecond for nothing).
	_, err := os.Lstat(filepath.Join(dir, initSpecFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container %s is not running (no state in %s)", id, filepath.Dir(dir))
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: read its spec: %w", id, err)
	}
	data, err := json.Marshal(execRequest{Process: cfg.Process, Privileged: cfg.Privileged})
	if err != nil {
		return nil, fmt.Errorf("exec: encode the process: %w", err)
	}
	conn, err := dialAgent(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	conn.SetLimit(syncmsg.MaxLimit)
	p := &Process{conn: conn, done: make(chan struct{})}
	// From now on ctx kills the process: a signal sent before the init has
	// started it is acted on once it has.
	p.stopCtx = context.AfterFunc(ctx, func() { _ = p.Signal(syscall.SIGKILL) })

	st, err := newExecStdio(cfg)
	if err == nil {
		err = conn.Send(syncmsg.Msg{Type: syncmsg.Exec, Data: string(data)}, st.fds...)
		st.closeChildEnds()
	}
	var m syncmsg.Msg
	var fds []int
	if err == nil {
		m, fds, err = conn.Recv()
	}
	switch {
	case err != nil:
	case m.Type == syncmsg.Failed:
		err = &Error{Code: m.Code, Err: errors.New(m.Error)}
	case m.Type != syncmsg.Started:
		err = fmt.Errorf("exec: unexpected message %q from the container's init", m.Type)
	case cfg.Process.Terminal && len(fds) != 1:
		err = errors.New("exec: the container's init sent no terminal")
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		p.stopCtx()
		st.abort()
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("exec: %w", ctx.Err())
		}
		return nil, err
	}
	p.pid = m.Pid
	wait := func() {}
	if cfg.Process.Terminal {
		p.master = os.NewFile(uintptr(fds[0]), "ptmx")
		if cfg.Stdin != nil || cfg.Stdout != nil {
			wait = relayTerminal(p.master, cfg.Stdin, cfg.Stdout)
		}
	} else {
		for _, fd := range fds {
			unix.Close(fd)
		}
		wait = st.start()
	}
	go p.wait(wait, st.closeStdin)
	return p, nil
}

// dialAgent connects to the exec socket of the container in dir. The init
// binds it once the command runs: a container that has just started may
// not have it yet.
func dialAgent(ctx context.Context, dir string) (*syncmsg.Conn, error) {
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("not running: %w", err)
	}
	defer unix.Close(d)
	// Through the directory's descriptor: the full path may be longer than
	// a socket address allows.
	addr := &unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(d) + "/" + ExecSocket}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("exec socket: %w", err)
		}
		err = unix.Connect(fd, addr)
		if err == nil {
			return syncmsg.FromFD(fd), nil
		}
		unix.Close(fd)
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ECONNREFUSED) || time.Now().After(deadline) {
			return nil, fmt.Errorf("connect to the init's exec socket: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if _, err := os.Stat(filepath.Join(dir, initSpecFile)); err != nil {
			return nil, fmt.Errorf("not running: %w", err)
		}
	}
}

// execStdio is the standard streams of an exec'd process being set up:
// fds go to the init; the rest is this side's.
type execStdio struct {
	fds        []int
	childEnds  []*os.File // to close once sent
	copies     []func()   // the goroutines to start
	stdinPipe  *os.File   // the pipe to stdin, closed when the process ends
	ownedFiles []*os.File // the pipe ends this side keeps
}

// newExecStdio prepares the process's standard streams: none with a
// terminal, else a file, /dev/null, or a pipe copied to or from cfg's.
func newExecStdio(cfg ExecConfig) (*execStdio, error) {
	st := &execStdio{}
	if cfg.Process.Terminal {
		return st, nil
	}
	var err error
	if st.fds, err = st.input(cfg.Stdin); err != nil {
		st.abort()
		return nil, err
	}
	var pipeW *os.File // a pipe shared by Stdout and Stderr when they are the same
	for _, w := range []io.Writer{cfg.Stdout, cfg.Stderr} {
		if pipeW != nil && w != nil && sameWriter(cfg.Stdout, cfg.Stderr) {
			st.fds = append(st.fds, int(pipeW.Fd()))
			continue
		}
		fd, pw, err := st.output(w)
		if err != nil {
			st.closeChildEnds()
			st.abort()
			return nil, err
		}
		st.fds = append(st.fds, fd)
		pipeW = pw
	}
	return st, nil
}

// sameWriter reports whether a and b are the same writer (false when they
// cannot be compared).
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

func (st *execStdio) input(r io.Reader) ([]int, error) {
	if f, ok := r.(*os.File); ok {
		return []int{int(f.Fd())}, nil
	}
	if r == nil {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		st.childEnds = append(st.childEnds, f)
		return []int{int(f.Fd())}, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("exec: stdin pipe: %w", err)
	}
	st.childEnds = append(st.childEnds, pr)
	st.stdinPipe = pw
	st.ownedFiles = append(st.ownedFiles, pw)
	st.copies = append(st.copies, func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	})
	return []int{int(pr.Fd())}, nil
}

// output returns the descriptor for writer w and, when it is a pipe, its
// write end.
func (st *execStdio) output(w io.Writer) (int, *os.File, error) {
	if f, ok := w.(*os.File); ok {
		return int(f.Fd()), nil, nil
	}
	if w == nil {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return 0, nil, err
		}
		st.childEnds = append(st.childEnds, f)
		return int(f.Fd()), nil, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, nil, fmt.Errorf("exec: output pipe: %w", err)
	}
	st.childEnds = append(st.childEnds, pw)
	st.ownedFiles = append(st.ownedFiles, pr)
	st.copies = append(st.copies, func() {
		_, _ = io.Copy(w, pr)
		pr.Close()
	})
	return int(pw.Fd()), pw, nil
}

func (st *execStdio) closeChildEnds() {
	for _, f := range st.childEnds {
		f.Close()
	}
	st.childEnds = nil
}

// abort closes this side's ends (stdin's ends its copy).
func (st *execStdio) abort() {
	if st == nil {
		return
	}
	for _, f := range st.ownedFiles {
		f.Close()
	}
}

// closeStdin closes the pipe to the process's stdin, if any, which ends
// its copy.
func (st *execStdio) closeStdin() {
	if st.stdinPipe != nil {
		st.stdinPipe.Close()
	}
}

// start starts the copies and returns a function that waits for the output
// ones.
func (st *execStdio) start() (wait func()) {
	var wg sync.WaitGroup
	for i, c := range st.copies {
		if st.stdinPipe != nil && i == 0 {
			go c() // not waited for: it ends when stdin does
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c()
		}()
	}
	return wg.Wait
}

// wait reads the exit status, then waits for the output to be copied.
func (p *Process) wait(output func(), closeInput func()) {
	var m syncmsg.Msg
	var rerr error
	for {
		var fds []int
		m, fds, rerr = p.conn.Recv()
		for _, fd := range fds {
			unix.Close(fd)
		}
		if rerr != nil || m.Type == syncmsg.Exited {
			break
		}
	}
	code, err := 0, error(nil)
	switch {
	case rerr == nil:
		code = m.Code
	case p.isReleased():
		err = errors.New("exec: process released")
	case errors.Is(rerr, io.EOF):
		err = errors.New("exec: the container's init ended before the process")
	default:
		err = fmt.Errorf("exec: %w", rerr)
	}
	p.stopCtx()
	p.mu.Lock()
	p.ended = true
	p.conn.Close()
	p.mu.Unlock()
	if err == nil {
		output()
		if p.master != nil {
			p.master.Close()
		}
	}
	closeInput()
	p.code, p.err = code, err
	if err != nil {
		p.err = failed(err)
	}
	close(p.done)
}

func (p *Process) isReleased() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.released
}

// Pid returns the process's pid in the container's PID namespace.
func (p *Process) Pid() int { return p.pid }

// Terminal returns the pseudo-terminal's master when the process has one
// (Process.Terminal), else nil: to set its size, or to read and write it
// when ExecConfig's Stdin and Stdout are nil. It is closed once the process
// has ended and its output has been copied.
func (p *Process) Terminal() *os.File { return p.master }

// Signal sends sig to the process. It fails once the process has ended
// (os.ErrProcessDone) or has been released.
func (p *Process) Signal(sig syscall.Signal) error {
	if sig <= 0 || sig > 64 {
		return fmt.Errorf("exec: invalid signal %d", sig)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || p.released {
		return fmt.Errorf("signal %d: %w", sig, os.ErrProcessDone)
	}
	if err := p.conn.Send(syncmsg.Msg{Type: syncmsg.Signal, Code: int(sig)}); err != nil {
		return fmt.Errorf("signal %d: %w", sig, err)
	}
	return nil
}

// Wait waits for the process to end and for its output to be copied, and
// returns its exit status (128+N when signal N killed it). An error means
// the status could not be known: the container ended first, or the process
// was released.
func (p *Process) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

// Release lets the process run on without this one: its exit is no longer
// waited for (Wait returns an error), nor can it be signalled, and ctx no
// longer kills it. Output still being copied is copied until the process
// closes it.
func (p *Process) Release() error {
	p.stopCtx()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || p.released {
		return nil
	}
	p.released = true
	// Wakes wait, which closes the connection: the init sees the process
	// detached.
	return unix.Shutdown(int(p.conn.File().Fd()), unix.SHUT_RDWR)
}
