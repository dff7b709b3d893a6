// Package netstack serves a container's slirp network (network.KindSlirp)
// from a process of its own: rless-netstack (cmd/rless-netstack), gVisor's
// netstack in a program that rless's build appends to the rless binary
// (internal/payload). The process that starts containers thus never links
// gVisor, whose package initialisation costs about a millisecond.
//
// Importing this package registers its driver with network.Open as the
// slirp kind's fallback: package slirp, when also linked, serves the
// network in process instead.
//
// [Open] opens the published ports at once, so that a port already taken
// fails the run before the container starts, and starts the stack process
// in the background: its start-up overlaps the container's. The stack
// gets the container's tap device from [Driver.Attach], is told to stop by
// [Driver.Stop] as soon as the container has ended, and is waited for by
// [Driver.Close], last, so that its exit overlaps the owner's clean-up.
package netstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rless/rless/internal/payload"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/internal/syncmsg"
	"github.com/rless/rless/pkg/network"
)

func init() {
	network.RegisterFallback(network.KindSlirp, func(_ context.Context, mode network.Mode, opts network.Options) (network.Driver, error) {
		return Open(mode.Config, mode.Ports, opts.RunRoot)
	})
}

// FDEnv, set in the stack's environment, tells it that its last
// descriptor is its own program (a memory file), to close.
const FDEnv = "_RLESS_NETSTACK_FD"

// Driver is the slirp network of one container served by the stack
// process. It implements network.Driver and network.Stopper.
type Driver struct {
	cfg       network.Config // with the Ports bound
	listeners *network.Listeners

	relay   *os.File      // the host's end of the container's relay, or nil (SetRelay)
	started chan struct{} // closed once cmd and conn, or err, are set
	cmd     *exec.Cmd
	conn    *syncmsg.Conn
	err     error

	stopOnce, waitOnce sync.Once
	waitErr            error
}

var (
	_ network.Driver  = (*Driver)(nil)
	_ network.Stopper = (*Driver)(nil)
)

// Open opens the host sockets of ports (failing when one is taken) and
// starts the stack process for cfg in the background, its program
// extracted into runRoot/.bin once per build of the running program (or
// loaded into a memory file when that fails). An error starting the
// process is reported by Attach.
func Open(cfg network.Config, ports []network.PortMapping, runRoot string) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l, err := network.Listen(ports)
	if err != nil {
		return nil, err
	}
	cfg.Ports = l.Ports() // with the host ports bound
	d := &Driver{cfg: cfg, listeners: l, started: make(chan struct{})}
	files, err := l.Files()
	if err != nil {
		l.Close()
		return nil, err
	}
	go func() {
		defer close(d.started)
		d.cmd, d.conn, d.err = launch(runRoot, cfg, files)
	}()
	slog.Debug("network stack starting", "ports", cfg.Ports)
	return d, nil
}

// launch starts the stack process and returns it with the message socket
// to it. It closes files (copies of the published ports' sockets).
func launch(runRoot string, cfg network.Config, files []*os.File) (cmd *exec.Cmd, parent *syncmsg.Conn, err error) {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	parent, child, err := syncmsg.Pair()
	if err != nil {
		return nil, nil, fmt.Errorf("network stack: %w", err)
	}
	defer child.Close()
	defer func() {
		if err != nil {
			parent.Close()
		}
	}()
	setup, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("network stack: %w", err)
	}
	cmd = &exec.Cmd{
		Args:       []string{"rless-netstack", string(setup)},
		Stderr:     os.Stderr,
		ExtraFiles: append([]*os.File{child.File()}, files...),
		// Its own process group: a Ctrl-C at the terminal is the
		// container's to handle, and the owner stops the stack after.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true},
	}
	// The program: extracted once into the run root (payload.Extract
	// makes sure no process holds it open for writing), else copied into
	// a memory file passed as the last descriptor.
	cmd.Path, err = payload.Extract(payload.Netstack, filepath.Join(runRoot, ".bin"))
	switch {
	case errors.Is(err, payload.ErrNone):
		return nil, nil, errors.New("this rless was built without its network stack: build it with `make`, or use the network modes none or host")
	case err != nil:
		slog.Debug("network stack not extracted, loading it in memory", "err", err)
		prog, err := payload.Load(payload.Netstack)
		if err != nil {
			return nil, nil, fmt.Errorf("load the network stack: %w", err)
		}
		defer prog.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, prog)
		cmd.Env = append(os.Environ(), FDEnv+"=1")
		cmd.Path = fmt.Sprintf("/proc/self/fd/%d", 3+len(cmd.ExtraFiles)-1)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start the network stack: %w", err)
	}
	return cmd, parent, nil
}

// Tap returns the configuration of the container's tap device.
func (d *Driver) Tap() *network.Config {
	cfg := d.cfg
	return &cfg
}

// Attach hands tap, the container's tap device, to the stack process,
// once it has started (or ctx is done), with pid, the container's first
// process (where the allow-list's log looks for the processes of refused
// attempts); it closes tap.
func (d *Driver) Attach(ctx context.Context, pid int, tap *os.File) error {
	defer tap.Close()
	if d.relay != nil {
		defer d.relay.Close()
	}
	select {
	case <-d.started:
	case <-ctx.Done():
		return fmt.Errorf("network stack: %w", context.Cause(ctx))
	}
	if d.err != nil {
		return d.err
	}
	fds := []int{int(tap.Fd())}
	if d.relay != nil {
		fds = append(fds, int(d.relay.Fd()))
	}
	if err := d.conn.Send(syncmsg.Msg{Type: syncmsg.Tap, Pid: pid}, fds...); err != nil {
		return fmt.Errorf("network stack: hand it the tap device: %w", err)
	}
	return nil
}

// SetRelay makes the stack hand the connections of the host's loopback
// clients to sock, the host's end of the container's relay (see package
// relay); Attach passes it on.
func (d *Driver) SetRelay(sock *os.File) { d.relay = sock }

// Ports returns the published ports, host ports bound.
func (d *Driver) Ports() []network.PortMapping { return d.cfg.Ports }

// Stop tells the stack to stop, without waiting: it exits once every
// socket of it is closed.
func (d *Driver) Stop() {
	d.stopOnce.Do(func() {
		<-d.started
		if d.conn != nil {
			d.conn.Close()
		}
	})
}

// Close stops the stack, waits for it to exit (killing it if it has not
// after 5 s) and closes the published ports. It may be called more than
// once.
func (d *Driver) Close() error {
	d.Stop()
	d.waitOnce.Do(func() {
		defer d.listeners.Close()
		if d.cmd == nil {
			return
		}
		var killed bool
		if killed, d.waitErr = proc.WaitOrKill(d.cmd, 5*time.Second); killed {
			d.waitErr = errors.New("it did not stop: killed")
		}
		if d.waitErr != nil {
			d.waitErr = fmt.Errorf("network stack: %w", d.waitErr)
		}
		slog.Debug("network stack stopped")
	})
	return d.waitErr
}
