package container

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rless/rless/internal/logging"
	"github.com/rless/rless/internal/stage"
	"golang.org/x/sys/unix"
)

// The exec agent of a container without rless's init. Its command is PID 1
// and nothing of rless stays inside to fork exec'd processes, so the init,
// before it executes the command, starts the agent as a process of its own:
// a copy of this program (the AgentStage), already in every namespace and
// the root of the container, unconfined as the init is. It serves the
// socket the init bound (descriptor agentListenFD) as rless's init does,
// and reaps the processes it starts. It is a child of the command; it ends
// with the container, when the kernel kills what is left in the PID
// namespace after PID 1.

// AgentStage is the stage name of the exec agent of a container whose
// command is PID 1.
const AgentStage = "exec-agent"

const (
	agentListenFD = 3 // the bound, listening exec socket
	agentSpecFD   = 4 // a pipe carrying the spec and seccomp filter (encodeInitSpec)
)

// startAgentProcess binds the exec socket and starts the agent process on
// it. A failure is logged: exec then fails, the container runs on.
func (p *process) startAgentProcess() {
	a := newAgent(p)
	ln, err := a.listen()
	if err != nil {
		slog.Warn("exec will not work in this container", "err", err)
		return
	}
	defer unix.Close(ln)
	// The init's spec is the one it decoded (decodeInitSpec): encoding
	// it again loses nothing, and costs none of JSON's reflection.
	data := encodeInitSpec(initSpec{spec: p.spec, seccomp: p.seccomp})
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		slog.Warn("exec agent", "err", err)
		return
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		unix.Close(pipe[0])
		unix.Close(pipe[1])
		slog.Warn("exec agent", "err", err)
		return
	}
	defer null.Close()
	env := []string{stage.StageEnv + "=" + AgentStage}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, logging.Env+"=") {
			env = append(env, kv)
		}
	}
	// The spec goes through the pipe while the agent starts; a spec larger
	// than the pipe's buffer is written once the agent reads.
	done := make(chan error, 1)
	go func() {
		_, err := unix.Write(pipe[1], data)
		unix.Close(pipe[1])
		done <- err
	}()
	// No parent-death signal: the parent thread ends when the init
	// executes the command, and the agent must stay.
	_, err = syscall.ForkExec("/proc/self/exe", []string{"rless-exec-agent"}, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{null.Fd(), null.Fd(), null.Fd(), uintptr(ln), uintptr(pipe[0])},
	})
	if err != nil {
		slog.Warn("exec will not work in this container: start the exec agent", "err", err)
	}
	// Without an agent the write fails (EPIPE) once this end is closed.
	unix.Close(pipe[0])
	if werr := <-done; werr != nil && err == nil {
		slog.Warn("exec agent: hand over the spec", "err", werr)
	}
}

// runAgentProcess is the AgentStage: it serves exec requests until the
// container ends.
func runAgentProcess() int {
	// Not dumpable: the processes of the container cannot open its
	// /proc entries (its executable is this program's).
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	f := os.NewFile(agentSpecFD, "spec")
	data, err := io.ReadAll(f)
	f.Close()
	var cfg initSpec
	if err == nil {
		cfg, err = decodeInitSpec(data)
	}
	if err == nil && (cfg.spec == nil || cfg.spec.Process == nil) {
		err = fmt.Errorf("no process in the spec")
	}
	if err != nil {
		slog.Warn("exec agent: read the container's spec", "err", err)
		return ExitRlessFailed
	}
	// The container's limits, which exec'd processes inherit (the init
	// sets them as it executes the command, after the agent started).
	for _, r := range cfg.spec.Process.Rlimits {
		if err := setRlimit(r); err != nil {
			slog.Warn("exec agent", "err", err)
		}
	}
	a := &agent{spec: cfg.spec, seccomp: cfg.seccomp, stateDir: -1, execs: map[int]*execProc{}}
	// With no child to wait for, the next SIGCHLD says there is one to
	// reap (one that ends before that is reaped by the next Wait4).
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	unix.CloseOnExec(agentListenFD)
	go a.serve(agentListenFD, nil)
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case err == syscall.EINTR:
		case err == syscall.ECHILD:
			<-sigchld
		case err != nil:
			slog.Warn("exec agent: wait", "err", err)
			return ExitRlessFailed
		default:
			a.reaped(pid, ws)
		}
	}
}
