package userns

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/rless/rless/internal/syncmsg"
)

// The re-exec protocol. A Go program cannot unshare a user namespace, so
// rless starts a copy of itself (/proc/self/exe) with clone flags, marks it
// with StageEnv, and hands it a message socket on descriptor SyncFD. The
// parent writes the id mapping and then sends syncmsg.Mapped. A program that
// uses this package must give the re-executed copy a chance to run its stage
// first thing in main (the container package's Init does that).
const (
	// StageEnv names the environment variable holding the stage a
	// re-executed child runs ("init", "unshare", ...).
	StageEnv = "_RLESS_STAGE"
	// mappedEnv marks the second execution of a child, made after the
	// mapping was written so that the child holds its capabilities.
	mappedEnv = "_RLESS_MAPPED"
	// SyncFD is the descriptor number of the message socket in a child.
	SyncFD = 3
)

// Stage returns the stage this process was re-executed for, or "" when it
// was not started by Spawn.
func Stage() string { return os.Getenv(StageEnv) }

// SpawnOptions says how to start a child stage.
type SpawnOptions struct {
	Stage      string    // stage name, passed in StageEnv
	Args       []string  // arguments after argv[0]
	Cloneflags uintptr   // namespaces to create; CLONE_NEWUSER is added
	Env        []string  // environment of the child (nil: this process's)
	Setsid     bool      // start the child in a new session
	Stdin      io.Reader // as in exec.Cmd
	Stdout     io.Writer
	Stderr     io.Writer
}

// Child is a started child stage whose user namespace is mapped.
type Child struct {
	Cmd  *exec.Cmd
	Sync *syncmsg.Conn // parent's end of the message socket
}

// Spawn starts the running binary again as opts.Stage in new namespaces,
// writes mapping m (see Apply) and tells the child it is mapped.
//
// The child is killed when the OS thread that called Spawn exits; callers
// that run long should hold runtime.LockOSThread for the child's lifetime.
func Spawn(ctx context.Context, h *Host, m Mapping, opts SpawnOptions) (*Child, error) {
	parent, child, err := syncmsg.Pair()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append([]string{"rless-" + opts.Stage}, opts.Args...),
		Env:        append(env, StageEnv+"="+opts.Stage),
		Stdin:      opts.Stdin,
		Stdout:     opts.Stdout,
		Stderr:     opts.Stderr,
		ExtraFiles: []*os.File{child.File()},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: opts.Cloneflags | syscall.CLONE_NEWUSER,
			Pdeathsig:  syscall.SIGKILL,
			Setsid:     opts.Setsid,
		},
	}
	if err := cmd.Start(); err != nil {
		parent.Close()
		return nil, fmt.Errorf("create namespaces: %w", err)
	}
	c := &Child{Cmd: cmd, Sync: parent}
	if err := Apply(ctx, cmd.Process.Pid, m, h); err != nil {
		c.Kill()
		return nil, err
	}
	if err := parent.Send(syncmsg.Msg{Type: syncmsg.Mapped}); err != nil {
		c.Kill()
		return nil, err
	}
	return c, nil
}

// Kill kills the child, reaps it and closes the socket.
func (c *Child) Kill() {
	_ = c.Cmd.Process.Kill()
	_ = c.Cmd.Wait()
	c.Sync.Close()
}

// WaitMapped is called by a child stage before it does anything that needs
// its namespace identity. It waits until the parent has written the
// mapping. If reexec is true it then executes the binary once more, since a
// process that executed while still unmapped holds no capabilities; the new
// copy returns from WaitMapped at once, as root of the namespace with full
// capabilities in it.
func WaitMapped(reexec bool) (*syncmsg.Conn, error) {
	conn := syncmsg.FromFD(SyncFD)
	if os.Getenv(mappedEnv) != "" {
		os.Unsetenv(mappedEnv)
		return conn, nil
	}
	m, _, err := conn.Recv()
	if err != nil {
		return nil, fmt.Errorf("wait for id mapping: %w", err)
	}
	if m.Type != syncmsg.Mapped {
		return nil, fmt.Errorf("wait for id mapping: unexpected message %q", m.Type)
	}
	if !reexec {
		return conn, nil
	}
	env := append(os.Environ(), mappedEnv+"=1")
	err = syscall.Exec("/proc/self/exe", os.Args, env)
	return nil, fmt.Errorf("re-execute after id mapping: %w", err)
}

// ExitCode returns the podman-style exit status of a finished process state:
// its exit code, or 128+N when signal N killed it.
func ExitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
