package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rless/rless/internal/payload"
	"github.com/rless/rless/internal/syncmsg"
	"github.com/rless/rless/pkg/network"
)

// netstack is the network stack process of one container: rless-netstack,
// appended to rless (see cmd/rless-netstack). It starts in the background
// alongside the container, gets the container's tap device once the
// container's stage has made it, and is told to stop as soon as the
// container has ended; rless waits for it last, so that its exit overlaps
// rless's own clean-up.
type netstack struct {
	started chan struct{} // closed once cmd and conn, or err, are set
	cmd     *exec.Cmd
	conn    *syncmsg.Conn
	err     error

	stopOnce, waitOnce sync.Once
	waitErr            error
}

// startNetstack starts the stack process for cfg, with the sockets of the
// published ports l (which stay open here too, until the caller closes
// them; cfg.Ports says what they are), in the background.
func startNetstack(runRoot string, cfg network.Config, l *network.Listeners) *netstack {
	n := &netstack{started: make(chan struct{})}
	files, err := l.Files()
	if err != nil {
		n.err = err
		close(n.started)
		return n
	}
	go func() {
		defer close(n.started)
		n.cmd, n.conn, n.err = launchNetstack(runRoot, cfg, files)
	}()
	return n
}

// netstackFDEnv tells the stack that its last descriptor is itself (a
// memory file), to close.
const netstackFDEnv = "_RLESS_NETSTACK_FD"

// launchNetstack starts the stack process and returns it with the message
// socket to it. It closes files (copies of the published ports' sockets).
func launchNetstack(runRoot string, cfg network.Config, files []*os.File) (cmd *exec.Cmd, parent *syncmsg.Conn, err error) {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	parent, child, err := syncmsg.Pair()
	if err != nil {
		return nil, nil, err
	}
	defer child.Close()
	defer func() {
		if err != nil {
			parent.Close()
		}
	}()
	setup, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}
	cmd = &exec.Cmd{
		Args:       []string{"rless-netstack", string(setup)},
		Stderr:     os.Stderr,
		ExtraFiles: append([]*os.File{child.File()}, files...),
		// Its own process group: a Ctrl-C at the terminal is the
		// container's to handle, and rless stops the stack after.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true},
	}
	// The program: extracted once into the run root (payload.Extract
	// makes sure no process holds it open for writing), else copied into
	// a memory file passed as the last descriptor.
	cmd.Path, err = payload.Extract(payload.Netstack, filepath.Join(runRoot, ".bin"))
	switch {
	case errors.Is(err, payload.ErrNone):
		return nil, nil, errors.New("this rless was built without its network stack: build it with `make`, or use --network none or host")
	case err != nil:
		slog.Debug("network stack not extracted, loading it in memory", "err", err)
		prog, err := payload.Load(payload.Netstack)
		if err != nil {
			return nil, nil, fmt.Errorf("load the network stack: %w", err)
		}
		defer prog.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, prog)
		cmd.Env = append(os.Environ(), netstackFDEnv+"=1")
		cmd.Path = fmt.Sprintf("/proc/self/fd/%d", 3+len(cmd.ExtraFiles)-1)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start the network stack: %w", err)
	}
	return cmd, parent, nil
}

// attach hands the container's tap device to the stack (see
// container.Config.AttachTap); closing what it returns tells the stack to
// stop, without waiting for it.
func (n *netstack) attach(tap *os.File) (io.Closer, error) {
	defer tap.Close()
	<-n.started
	if n.err != nil {
		return nil, n.err
	}
	if err := n.conn.Send(syncmsg.Msg{Type: syncmsg.Tap}, int(tap.Fd())); err != nil {
		return nil, err
	}
	return stopper{n}, nil
}

type stopper struct{ n *netstack }

func (s stopper) Close() error { s.n.stop(); return nil }

// stop tells the stack to stop: it exits once every socket of it is
// closed.
func (n *netstack) stop() {
	n.stopOnce.Do(func() {
		<-n.started
		if n.conn != nil {
			n.conn.Close()
		}
	})
}

// Close stops the stack and waits for it to exit; one that has not after
// 5 s is killed.
func (n *netstack) Close() error {
	n.stop()
	n.waitOnce.Do(func() {
		if n.cmd == nil {
			return
		}
		var killed bool
		if killed, n.waitErr = waitOrKill(n.cmd, 5*time.Second); killed {
			n.waitErr = errors.New("it did not stop: killed")
		}
		if n.waitErr != nil {
			n.waitErr = fmt.Errorf("network stack: %w", n.waitErr)
		}
	})
	return n.waitErr
}

// waitOrKill waits for cmd to exit, killing it if it has not after d; it
// reports whether it had to.
func waitOrKill(cmd *exec.Cmd, d time.Duration) (killed bool, err error) {
	t := time.AfterFunc(d, func() { _ = cmd.Process.Kill() })
	err = cmd.Wait()
	return !t.Stop(), err
}
