// Package external connects a container's network namespace with a
// program of the host, as podman runs them: slirp4netns
// (network.KindSlirp4netns) or pasta (network.KindPasta). The program
// joins the namespace from outside once the container's first process
// exists, and the container's command starts once it has configured it.
//
// Importing this package registers its drivers with network.Open.
package external

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/network"
	"golang.org/x/sys/unix"
)

func init() {
	open := func(_ context.Context, mode network.Mode, opts network.Options) (network.Driver, error) {
		return Open(mode, opts.RunRoot)
	}
	network.Register(network.KindSlirp4netns, open)
	network.Register(network.KindPasta, open)
}

// readyTimeout is how long slirp4netns has to say it has configured the
// namespace.
const readyTimeout = 10 * time.Second

// Driver is the network of one container connected by slirp4netns or
// pasta. It implements network.Driver and network.Stopper.
type Driver struct {
	mode    network.Mode
	runRoot string

	mu     sync.Mutex
	cmd    *exec.Cmd // slirp4netns, a child; nil for pasta, which daemonizes
	daemon *os.File  // a pidfd of pasta's daemon
	exit   *os.File  // slirp4netns ends when this closes

	stopOnce, closeOnce sync.Once
}

var (
	_ network.Driver  = (*Driver)(nil)
	_ network.Stopper = (*Driver)(nil)
)

// Open returns the driver of mode, of kind slirp4netns or pasta, whose
// Args are as network.ParseMode makes them; a mode without a Program
// runs the one of its kind's name found on PATH. runRoot holds
// slirp4netns's API socket and pasta's pid file meanwhile. Nothing runs
// until Attach.
func Open(mode network.Mode, runRoot string) (*Driver, error) {
	if !mode.Kind.External() {
		return nil, fmt.Errorf("network %s: not an external program", mode.Kind)
	}
	if mode.Program == "" {
		path, err := exec.LookPath(string(mode.Kind))
		if err != nil {
			return nil, fmt.Errorf("network %s: %s is not installed", mode.Kind, mode.Kind)
		}
		mode.Program = path
	}
	for _, p := range mode.Ports {
		if p.HostPort == 0 {
			return nil, fmt.Errorf("network %s: publish %s: give the host port", mode.Kind, p)
		}
	}
	return &Driver{mode: mode, runRoot: runRoot}, nil
}

// Tap returns nil: the program joins the namespace from outside.
func (d *Driver) Tap() *network.Config { return nil }

// Ports returns the published ports.
func (d *Driver) Ports() []network.PortMapping { return d.mode.Ports }

// Attach connects the network namespace of process pid with the program
// and returns once the network is configured (and, for slirp4netns, the
// ports published through its API socket). tap must be nil; ctx bounds
// the wait.
func (d *Driver) Attach(ctx context.Context, pid int, tap *os.File) error {
	if tap != nil {
		tap.Close()
		return fmt.Errorf("%s: joins the namespace itself, it takes no tap device", d.mode.Kind)
	}
	if pid <= 0 {
		return fmt.Errorf("%s: no process to join the namespace of", d.mode.Kind)
	}
	if d.mode.Kind == network.KindPasta {
		return d.connectPasta(ctx, pid)
	}
	return d.connectSlirp4netns(ctx, pid)
}

// connectSlirp4netns starts slirp4netns on the network namespace of
// process pid and publishes ports through its API socket.
func (d *Driver) connectSlirp4netns(ctx context.Context, pid int) error {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("slirp4netns: %w", err)
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return fmt.Errorf("slirp4netns: %w", err)
	}
	args := append([]string(nil), d.mode.Args...)
	api := ""
	if len(d.mode.Ports) > 0 {
		api = filepath.Join(d.runRoot, fmt.Sprintf(".slirp4netns-%d.sock", pid))
		args = append(args, "--api-socket="+api)
		defer os.Remove(api)
	}
	args = append(args, "--ready-fd=3", "--exit-fd=4", strconv.Itoa(pid), network.TapName)
	cmd := exec.Command(d.mode.Program, args...)
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	err = cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		exitW.Close()
		return fmt.Errorf("slirp4netns: %w", err)
	}
	d.mu.Lock()
	d.cmd, d.exit = cmd, exitW
	d.mu.Unlock()
	deadline := time.Now().Add(readyTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = readyR.SetReadDeadline(deadline)
	stopWait := context.AfterFunc(ctx, func() { _ = readyR.SetReadDeadline(time.Now()) })
	_, err = readyR.Read(make([]byte, 1))
	stopWait()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if err = ctx.Err(); err == nil {
			err = fmt.Errorf("not ready after %v", readyTimeout)
		}
	}
	if err != nil {
		d.Close()
		return fmt.Errorf("slirp4netns: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	for _, p := range d.mode.Ports {
		if err := addHostfwd(api, p); err != nil {
			d.Close()
			return err
		}
	}
	return nil
}

// addHostfwd publishes p through slirp4netns's API socket.
func addHostfwd(api string, p network.PortMapping) error {
	c, err := net.Dial("unix", api)
	if err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	defer c.Close()
	host := p.BindIP().String()
	req := map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": p.Protocol, "host_addr": host, "host_port": p.HostPort, "guest_port": p.ContainerPort}}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	_ = c.(*net.UnixConn).CloseWrite()
	var reply struct {
		Error *struct{ Desc string } `json:"error"`
	}
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&reply); err != nil {
		return fmt.Errorf("slirp4netns API: %w", err)
	}
	if reply.Error != nil {
		return fmt.Errorf("publish %s:%d/%s: %s", host, p.HostPort, p.Protocol, reply.Error.Desc)
	}
	return nil
}

// connectPasta connects the network namespace of process pid with pasta,
// which configures it and goes to the background.
func (d *Driver) connectPasta(ctx context.Context, pid int) error {
	pidFile := filepath.Join(d.runRoot, fmt.Sprintf(".pasta-%d.pid", pid))
	defer os.Remove(pidFile)
	args := append(append([]string(nil), d.mode.Args...), "--pid", pidFile, strconv.Itoa(pid))
	out, err := exec.CommandContext(ctx, d.mode.Program, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pasta: %v: %s", err, strings.TrimSpace(string(out)))
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("pasta: its pid: %w", err)
	}
	daemon, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("pasta: its pid: %w", err)
	}
	fd, err := unix.PidfdOpen(daemon, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // gone already: nothing to stop
	}
	if err != nil {
		return fmt.Errorf("pasta: its process %d: %w", daemon, err)
	}
	d.mu.Lock()
	d.daemon = os.NewFile(uintptr(fd), "pidfd")
	d.mu.Unlock()
	return nil
}

// Stop tells the program to end, without waiting: slirp4netns when its
// exit pipe closes, pasta on SIGTERM.
func (d *Driver) Stop() {
	d.stopOnce.Do(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.exit != nil {
			d.exit.Close()
		}
		if d.daemon != nil {
			_ = unix.PidfdSendSignal(int(d.daemon.Fd()), unix.SIGTERM, nil, 0)
		}
	})
}

// Close ends the program and waits (5 s at most, then it is killed) until
// it has. It may be called more than once.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		cmd, daemon := d.cmd, d.daemon
		d.mu.Unlock()
		d.Stop()
		if cmd != nil {
			_, _ = proc.WaitOrKill(cmd, 5*time.Second)
		}
		if daemon != nil {
			waitDaemon(int(daemon.Fd()))
			daemon.Close()
		}
	})
	return nil
}

// waitDaemon waits for pasta's daemon, whose pidfd is fd and which was
// told to stop, to exit, killing it if it has not after 5 s.
func waitDaemon(fd int) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 5000); n == 0 {
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		_, _ = unix.Poll(fds, 1000)
	}
}
