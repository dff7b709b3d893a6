package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/pollbuf"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/logfile"
)

// The monitor of a detached container runs in the supervisor, a process
// of its own session (it survives the terminal and the command that
// started it; see supervisor.go): it creates the container as its
// creator (the container dies with the supervisor), owns its stdio or
// pseudo-terminal, writes its log, serves attach, runs its network stack
// (in process, with the built-in network) and its healthcheck, applies
// its restart policy and records how each run ended. It ends with the
// container's last run.

// monitor is the state of a running monitor.
type monitor struct {
	e   *Engine
	d   *definition
	log *logfile.Writer // nil with the none driver
	hub *attachHub
	// rows and cols are the terminal's size at the first start, if known.
	rows, cols uint16
	stop       func() // asks the current run to stop (set while one runs)
	mu         sync.Mutex
	// forceRestart restarts the container whatever its policy (the
	// healthcheck's restart action).
	forceRestart bool
	// killed says that the container is to be killed, not stopped, and
	// the monitor to end without restarting it or waiting for clients;
	// cancel cancels the monitor's context (see kill).
	killed atomic.Bool
	cancel context.CancelFunc
}

// kill kills the monitor's container and ends the monitor.
func (m *monitor) kill() {
	m.killed.Store(true)
	m.cancel()
}

// runMonitor runs detached container a.ID until its last run ends or ctx
// is done (cancel cancels ctx). register is called with the monitor
// before it claims the container (from then on, a kill reaches it),
// started once the container's command runs or fails to start.
func (e *Engine) runMonitor(ctx context.Context, a monitorArgs, cancel context.CancelFunc, register func(*monitor) error, started func(error)) error {
	id := a.ID
	d, err := e.readDef(id)
	if err != nil {
		return err
	}
	m := &monitor{e: e, d: d, hub: newAttachHub(a.Hold), rows: a.Rows, cols: a.Cols, cancel: cancel}
	if err := register(m); err != nil {
		return err
	}
	release, err := e.claimMonitor(id, a.supervisor)
	if err != nil {
		return err
	}
	defer release()
	if d.Config.Log.Driver != "none" {
		if m.log, err = logfile.Create(filepath.Join(e.defDir(id), logFile), d.Config.Log.MaxSize); err != nil {
			return err
		}
		defer m.log.Close()
	}
	ln, err := m.listenAttach()
	if err != nil {
		return err
	}
	defer ln.Close()
	go m.serveAttach(ln)

	last := e.readLast(id)
	last.RestartCount = 0
	first := true
	for {
		if first && ctx.Err() != nil {
			return fmt.Errorf("container %s was stopped before it started", id)
		}
		code, err := m.runOnce(ctx, &last, func(err error) {
			if first {
				started(err)
				first = false
			}
		})
		last.Running, last.FinishedAt, last.ExitCode, last.Error = false, time.Now(), code, ""
		if err != nil {
			last.Error = err.Error()
			if code <= 0 {
				last.ExitCode = ExitCode(err)
			}
		}
		if err != nil || !m.restart(ctx, code, last.RestartCount) {
			break
		}
		last.RestartCount++
		last.Running = true
		_ = e.writeLast(id, last)
		delay := 100 * time.Millisecond << min(last.RestartCount-1, 6)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		if ctx.Err() != nil {
			break
		}
	}
	// The end is recorded first: while the clients drain, the container
	// lists as exited, with its status, not as being restarted.
	var recordErr error
	if !d.Config.Remove || m.killed.Load() {
		recordErr = e.writeLast(id, last)
	}
	m.hub.exit(last.ExitCode)
	// The clients get the exit status before the monitor ends; one held
	// for is given a while to come.
	if !m.killed.Load() {
		m.hub.drain(10 * time.Second)
	}
	// A killed one's container is removed by whoever killed it (rm -f).
	if d.Config.Remove && !m.killed.Load() {
		return e.removeDetached(context.Background(), d)
	}
	return recordErr
}

// claimMonitor makes this process the monitor of container id (its pid
// file, made exclusively: the pid, its start time and the name of the
// supervisor's socket) and returns the function that gives it up.
func (e *Engine) claimMonitor(id, sock string) (func(), error) {
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		return nil, err
	}
	p := e.monitorPath(id, ".pid")
	for range 2 {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = fmt.Fprintf(f, "%d %d %s\n", os.Getpid(), start, filepath.Base(sock))
			err = errors.Join(err, f.Close())
			if err != nil {
				os.Remove(p)
				return nil, err
			}
			return func() {
				os.Remove(e.monitorPath(id, ".sock"))
				os.Remove(p)
			}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if e.monitorPid(id) != 0 {
			return nil, fmt.Errorf("container %s is running already", id)
		}
		os.Remove(p) // a killed monitor's
	}
	return nil, fmt.Errorf("container %s: cannot claim its monitor", id)
}

// restart says whether the container, whose run ended with code, is to be
// started again.
func (m *monitor) restart(ctx context.Context, code, count int) bool {
	if ctx.Err() != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(m.e.defDir(m.d.ID), stoppingFile)); err == nil {
		return false
	}
	m.mu.Lock()
	force := m.forceRestart
	m.forceRestart = false
	m.mu.Unlock()
	if force {
		return true
	}
	r := m.d.Config.Restart
	switch r.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (r.MaxRetries == 0 || count < r.MaxRetries)
	}
	return false
}

// outputBuffers are the buffers the monitors read their containers'
// output pipes with: a monitor takes one only while output passes, so
// that a supervisor's idle containers share the pool's few.
var outputBuffers = pollbuf.New(32 << 10)

// runOnce creates the container, starts it and follows it to its end,
// returning its exit status, or the error that kept it from running.
func (m *monitor) runOnce(ctx context.Context, last *lastRun, started func(error)) (_ int, err error) {
	defer func() {
		if err != nil {
			started(err)
		}
	}()
	e, d := m.e, m.d
	// What a killed run left.
	if old, err := container.Load(e.runRoot, d.ID); err == nil {
		_ = old.Delete(ctx, true)
	}
	cfg := d.Config
	cfg.Name, cfg.Remove, cfg.Detach, cfg.ProxySignals = "", false, false, false
	if cfg.Image != "" {
		cfg.Image, cfg.Pull = d.ImageID, PullNever
	}
	out := &monitorOutput{m: m}
	var closeStdio []io.Closer
	defer func() {
		for _, c := range closeStdio {
			c.Close()
		}
	}()
	var stdin *os.File
	if cfg.Interactive {
		r, w, err := os.Pipe()
		if err != nil {
			return -1, err
		}
		stdin = w
		closeStdio = append(closeStdio, r, w)
		cfg.Stdin = r
	}
	m.hub.setStdin(stdin)
	var copying sync.WaitGroup
	if cfg.Terminal {
		cfg.Stdout = out.stream("stdout")
	} else {
		for _, name := range []string{"stdout", "stderr"} {
			r, w, err := os.Pipe()
			if err != nil {
				return -1, err
			}
			closeStdio = append(closeStdio, w)
			if name == "stdout" {
				cfg.Stdout = w
			} else {
				cfg.Stderr = w
			}
			copying.Add(1)
			go func() {
				defer copying.Done()
				defer r.Close()
				_, _ = outputBuffers.Copy(out.stream(name), r)
			}()
		}
	}
	p, err := e.prepareAs(ctx, cfg, d.ID)
	if err != nil {
		return -1, err
	}
	p.config.Record.Image, p.config.Record.Name = d.Config.Image, d.Name
	if m.rows > 0 && m.cols > 0 && cfg.Terminal && p.config.Spec.Process != nil {
		p.config.Spec.Process.ConsoleSize = &specs.Box{Height: uint(m.rows), Width: uint(m.cols)}
	}
	c, err := container.Create(ctx, p.config)
	if err != nil {
		p.cleanup()
		return -1, err
	}
	// The write ends are the container's now.
	for _, cl := range closeStdio {
		if f, ok := cl.(*os.File); ok && (f == cfg.Stdout || f == cfg.Stderr) {
			f.Close()
		}
	}
	m.hub.setTerminal(c)
	if err := c.Start(ctx); err != nil {
		_ = c.Delete(context.Background(), true)
		return -1, err
	}
	now := time.Now()
	last.Running, last.Started, last.StartedAt = true, true, now
	last.Command, last.Ports = p.config.Record.Command, p.config.Record.Ports
	if err := e.writeLast(d.ID, *last); err != nil {
		slog.Warn("recording the start", "err", err)
	}
	started(nil)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	m.stop = func() {
		if m.killed.Load() {
			_ = c.Signal(syscall.SIGKILL)
			return
		}
		_ = c.Stop(context.Background(), cfg.StopTimeout)
	}
	m.mu.Unlock()
	stopOnCancel := context.AfterFunc(ctx, m.stop)
	defer stopOnCancel()
	if h := m.healthcheck(); h != nil {
		go m.runHealthchecks(runCtx, c, h, now)
	}
	code, err := c.Wait(context.Background())
	cancel()
	copying.Wait()
	if m.log != nil {
		_ = m.log.Flush()
	}
	m.hub.setTerminal(nil)
	_ = c.Delete(context.Background(), true)
	if err != nil {
		return -1, err
	}
	slog.Debug("container ended", "id", d.ID, "code", code)
	return code, nil
}

// monitorOutput is where the container's output goes: the log and the
// attached clients.
type monitorOutput struct{ m *monitor }

func (o *monitorOutput) stream(name string) io.Writer {
	var log io.Writer = io.Discard
	if o.m.log != nil {
		log = o.m.log.Stream(name)
	}
	var kind byte = frameStdout
	if name == "stderr" {
		kind = frameStderr
	}
	return writerFunc(func(p []byte) (int, error) {
		_, _ = log.Write(p)
		o.m.hub.broadcast(kind, p)
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
