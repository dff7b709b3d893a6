package container

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"github.com/rless/rless/internal/syncmsg"
	"github.com/rless/rless/internal/workingset"
	"github.com/rless/rless/pkg/network/relay"
	"github.com/rless/rless/pkg/spec"
	"golang.org/x/sys/unix"
)

// forwarded are the signals rless's init passes on to the command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// start forks and executes the command from a thread of its own, which
// confine changes for good and which ends with this call (its goroutine
// stays locked to it), so that the init keeps its own ids and capabilities.
func (p *process) start() (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := confine(p.spec.Process, p.seccomp); err != nil {
			done <- result{err: err}
			return
		}
		files := []uintptr{0, 1, 2}
		sys := &syscall.SysProcAttr{}
		if p.stdio != nil {
			fd := p.stdio.Fd()
			files = []uintptr{fd, fd, fd}
			sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
		}
		pid, err := syscall.ForkExec(p.path, p.spec.Process.Args, &syscall.ProcAttr{Env: p.spec.Process.Env, Files: files, Sys: sys})
		if err != nil {
			err = execError(p.path, err)
		}
		done <- result{pid, err}
	}()
	r := <-done
	return r.pid, r.err
}

// runInit is rless's init: PID 1 of the container. It starts the command,
// forwards signals to it, serves exec requests (see agent.go), reaps every
// process that ends in the namespace (orphans are reparented to it; the
// exits of exec'd processes go to their clients), and returns the command's status when the
// command ends (128+N when signal N killed it). The kernel then kills what
// is left in the PID namespace.
func (p *process) runInit(conn *syncmsg.Conn) int {
	// Every signal rless forwards from now on must reach the command.
	<-p.sigsReady
	<-p.spared
	// The exec agent's socket and the file of the exit status are made in
	// the state directory, which is closed before the command starts.
	a := newAgent(p)
	ln, lerr := a.listen()
	exitFD := -1
	if p.stateDir >= 0 {
		exitFD = openExitAt(p.stateDir)
		unix.Close(p.stateDir)
		p.stateDir, a.stateDir = -1, -1
	}
	if spec.Idle(p.spec) {
		p.closeBarrier()
		p.running(conn, a, ln, lerr, os.Getpid())
		return p.ended(conn, a, exitFD, p.idle(a))
	}
	pid, err := p.start()
	p.closeBarrier() // the command is executed (or failed)
	if err != nil {
		code := ExitCodeOf(err)
		_ = conn.Send(syncmsg.Msg{Type: syncmsg.Failed, Error: err.Error(), Code: code})
		return code
	}
	slog.Debug("command forked", "pid", pid)
	p.running(conn, a, ln, lerr, pid)
	// No debug.FreeOSMemory here: a forced collection starts threads,
	// which a container at its process limit (a fork bomb) refuses the
	// init, and the Go runtime dies of that.
	// conn stays open (close-on-exec: the command has not got it), to
	// tell rless when the command ends: it then cleans up while the kernel
	// takes the namespaces down after this process.

	// Forward signals (those that came before the command started were
	// kept in the channel) while this thread reaps.
	go func() {
		for sig := range p.sigs {
			_ = syscall.Kill(pid, sig.(syscall.Signal))
		}
	}()
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return ExitRlessFailed // no child left: cannot happen before pid ends
		}
		if wpid == pid {
			return p.ended(conn, a, exitFD, exitStatus(ws))
		}
		a.reaped(wpid, ws)
	}
}

// closeBarrier lets the creator's start return (see waitBarrier).
func (p *process) closeBarrier() {
	if p.barrier >= 0 {
		unix.Close(p.barrier)
		p.barrier = -1
	}
}

// running tells rless that the container runs (pid is its command's, or
// the init's own without one) and starts serving exec requests on ln and
// the published ports' relay.
func (p *process) running(conn *syncmsg.Conn, a *agent, ln int, lerr error, pid int) {
	if p.stdio != nil {
		p.stdio.Close()
	}
	_ = conn.Send(syncmsg.Msg{Type: syncmsg.Started, Pid: pid})
	go a.serve(ln, lerr)
	if p.relay != nil {
		go relay.Serve(context.Background(), p.relay)
	}
	// What the init runs from now on (waits, signals, exec requests) is
	// a small part of what setting up the container mapped of its program.
	if err := workingset.Trim(); err != nil {
		slog.Debug("trim the init's program", "err", err)
	}
}

// ended records the container's exit status code (in the file exitFD and
// to rless), ends the exec'd processes and returns code.
func (p *process) ended(conn *syncmsg.Conn, a *agent, exitFD, code int) int {
	writeExitAt(exitFD, code)
	_ = conn.Send(syncmsg.Msg{Type: syncmsg.Exited, Code: code})
	a.containerEnded()
	return code
}

// idle is rless's init of an idle container (spec.Idle), once it runs: it
// starts no command and reaps (exec'd processes and orphans) until a stop
// signal comes (SIGTERM, SIGINT, SIGHUP, SIGQUIT or the container's stop
// signal). It then passes the signal to every process of the container
// and returns 0 once they have all ended (a SIGKILL of the container ends
// what remains).
func (p *process) idle(a *agent) int {
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	stop := spec.StopSignal(p.spec)
	stopping := false
	for {
		// Reap first: a child that ended before Notify sent nothing.
		for {
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.ECHILD && stopping {
				return 0
			}
			if err != nil || wpid <= 0 {
				break
			}
			a.reaped(wpid, ws)
		}
		select {
		case <-chld:
		case sig := <-p.sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, stop:
				stopping = true
				_ = syscall.Kill(-1, sig.(syscall.Signal)) // all but the init
			}
		}
	}
}

// spareThreads has the Go runtime make n threads more and keep them idle.
// The container's resource limits are the init's too (a process's limits
// are shared by its threads), so once the container's processes reach
// RLIMIT_NPROC (a fork bomb) the kernel refuses the init a new thread, and
// the runtime, which makes one when a goroutine blocks in a system call
// while others wait, ends the process ("failed to create new OS thread",
// exit status 2). Threads made before the command starts are reused
// instead.
func spareThreads(n int) {
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			// Locked, the goroutine holds its thread while it waits, so
			// the others need threads of their own.
			runtime.LockOSThread()
			wg.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	wg.Wait()
	close(release)
}
