package engine

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rless/rless/internal/logging"
	"github.com/rless/rless/pkg/reexec"
	"golang.org/x/sys/unix"
)

// The monitors of a user's detached containers run in one process, the
// supervisor, as podman's containers share one pause process: each
// container costs a goroutine and its network stack there instead of
// processes of its own (BENCHMARKS.md, "Detached containers"). The first
// command that starts a detached container starts the supervisor; it ends
// supervisorLinger after its last container has, unless another has
// started meanwhile (a script that removes a container and runs the next
// one finds it running, as podman's commands find its pause process).
// Killing it kills every container it supervises, as killing a
// container's monitor kills that container.
//
// The supervisor of a run root listens on .supervisor/KEY.sock, KEY a
// digest of what its monitors inherit from the command that started it
// (the rless program, PATH, the log level): a command with another
// environment gets a supervisor of its own. Its clients and its own end
// meet on KEY.lock: a client holds it from connecting until the
// supervisor has taken its request, and the supervisor holds it while it
// decides to end, so that no request reaches one that is ending.
//
// Protocol: one JSON line from the client (superviseRequest), one line
// back once the request is taken ({} or an error), and for a start one
// more once the container's command runs or fails.

const supervisorDir = ".supervisor"

// supervisorLinger is how long the supervisor waits, without containers,
// before it ends.
const supervisorLinger = 2 * time.Second

// superviseRequest is what a client asks the supervisor.
type superviseRequest struct {
	// Start starts a monitor.
	Start *monitorArgs `json:"start,omitempty"`
	// Kill kills the container of the monitor of this id, which does not
	// restart it and ends without waiting for attached clients.
	Kill string `json:"kill,omitempty"`
}

// superviseReply is one answer of the supervisor.
type superviseReply struct {
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// supervisorArgs is what the supervisor process is given.
type supervisorArgs struct {
	Sock string // the socket to listen on
	Lock string // the lock file it shares with its clients
	// Init is the program of the containers' inits, and of the
	// payloads, when the supervisor runs in another (the starting
	// process's /proc/PID/exe, opened at once): "" for the
	// supervisor's own.
	Init string `json:",omitempty"`
}

// supervisorProgram returns the program the supervisor runs in: "" for
// the running one. rless's lean front runs it in the program appended to
// it, which serves the containers' networks in process
// (supervisor_lean.go).
var supervisorProgram = func() (string, error) { return "", nil }

// supervisorFunc runs the supervisor (see supervise) in a process of its
// own session.
var supervisorFunc = reexec.Register("supervisor", supervise)

// supervisorPaths returns the socket and lock file of the supervisor this
// process would use for run root runRoot.
func supervisorPaths(runRoot string) (sock, lock string) {
	h := sha256.New()
	if fi, err := os.Stat("/proc/self/exe"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(h, "%d:%d:%d:%d\n", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	fmt.Fprintf(h, "%s\n%s\n", os.Getenv("PATH"), os.Getenv(logging.Env))
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(runRoot, supervisorDir)
	return filepath.Join(dir, key+".sock"), filepath.Join(dir, key+".lock")
}

// superviseStart has the supervisor (started if none runs) start the
// monitor a describes, and returns once the container's command runs.
func (e *Engine) superviseStart(ctx context.Context, a monitorArgs) error {
	sock, lockPath := supervisorPaths(e.runRoot)
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return err
	}
	conn, err := dialUnix(sock)
	if err != nil {
		// None runs, or a killed one left its socket.
		if err := e.startSupervisor(ctx, sock, lockPath); err != nil {
			return err
		}
		if conn, err = dialUnix(sock); err != nil {
			return fmt.Errorf("connect to the supervisor: %w", err)
		}
	}
	defer conn.Close()
	stopOnCancel := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopOnCancel()
	r := bufio.NewReader(conn)
	if err := askSupervisor(conn, r, superviseRequest{Start: &a}); err != nil {
		return err
	}
	// Taken: another client may go on.
	_ = unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	return readReply(r)
}

// startSupervisor starts the supervisor of sock, with the lock held.
func (e *Engine) startSupervisor(ctx context.Context, sock, lock string) error {
	logPath := sock[:len(sock)-len(".sock")] + ".log"
	errLog, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer errLog.Close()
	prog, err := supervisorProgram()
	if err != nil {
		return fmt.Errorf("the supervisor's program: %w", err)
	}
	a := supervisorArgs{Sock: sock, Lock: lock}
	if prog != "" {
		a.Init = "/proc/" + strconv.Itoa(os.Getpid()) + "/exe"
	}
	_, err = supervisorFunc.Run(ctx, reexec.Options{Detach: true, Stderr: errLog, Program: prog}, a)
	if err != nil {
		return fmt.Errorf("start the supervisor: %w", err)
	}
	return nil
}

// superviseKill has the supervisor that runs the monitor of id (which
// its pid file names: one started with another environment, maybe; else
// this process's) kill its container. It returns once the supervisor has
// taken the request; the caller waits for the monitor's end
// (waitMonitor).
func (e *Engine) superviseKill(ctx context.Context, id string) error {
	_, sock := e.monitorOf(id)
	if sock == "" {
		sock, _ = supervisorPaths(e.runRoot)
	}
	conn, err := dialUnix(sock)
	if err != nil {
		return fmt.Errorf("connect to the supervisor: %w", err)
	}
	defer conn.Close()
	stopOnCancel := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopOnCancel()
	return askSupervisor(conn, bufio.NewReader(conn), superviseRequest{Kill: id})
}

func askSupervisor(conn net.Conn, r *bufio.Reader, req superviseRequest) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := conn.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("ask the supervisor: %w", err)
	}
	return readReply(r)
}

func readReply(r *bufio.Reader) error {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("the supervisor's answer: %w", err)
	}
	var rep superviseReply
	if err := json.Unmarshal(line, &rep); err != nil {
		return fmt.Errorf("the supervisor's answer: %w", err)
	}
	if rep.Error != "" {
		return &reexec.Error{Func: "monitor", Msg: rep.Error, Code: rep.Code}
	}
	return nil
}

func dialUnix(p string) (net.Conn, error) {
	var c net.Conn
	err := viaDir(p, func(addr string) (err error) {
		c, err = net.Dial("unix", addr)
		return err
	})
	return c, err
}

// flock locks f exclusively, giving up when ctx is done.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}
