package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rless/rless/pkg/network"
	"golang.org/x/sys/unix"
)

// The external network modes: a program of the host connects the
// container's network namespace, as podman runs them.

// slirp4netnsArgs parses the options of --network slirp4netns:OPTIONS
// (podman's: allow_host_loopback, cidr, mtu, as the built-in stack takes
// them, and enable_ipv6, port_handler) into the program's arguments, and
// the addresses it gives the container (the built-in stack's, for the /etc
// files).
func slirp4netnsArgs(opts string) ([]string, network.Config, error) {
	var common []string
	ipv6 := false
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "allow_host_loopback", "mtu", "cidr":
				common = append(common, o)
			case "enable_ipv6":
				ipv6 = v == "true"
			case "port_handler":
				if v != "slirp4netns" {
					return nil, network.Config{}, fmt.Errorf("slirp4netns option %q: only port_handler=slirp4netns is supported", o)
				}
			default:
				return nil, network.Config{}, fmt.Errorf("slirp4netns option %q: unknown (known: allow_host_loopback, cidr, enable_ipv6, mtu, port_handler)", o)
			}
		}
	}
	cfg, err := network.ParseOptions(strings.Join(common, ","))
	if err != nil {
		return nil, cfg, err
	}
	args := []string{"--configure", "--mtu=" + strconv.Itoa(cfg.MTU), "--enable-sandbox"}
	if cfg.CIDR != network.DefaultConfig().CIDR {
		args = append(args, "--cidr="+cfg.CIDR.String())
	}
	if ipv6 {
		args = append(args, "--enable-ipv6")
	}
	if !cfg.AllowHostLoopback {
		args = append(args, "--disable-host-loopback")
	}
	return args, cfg, nil
}

// external is a running slirp4netns or pasta.
type external struct {
	cmd  *exec.Cmd // slirp4netns, a child; nil for pasta, which daemonizes
	pid  int       // pasta's daemon
	exit *os.File  // slirp4netns ends when this closes
}

// connectSlirp4netns connects the network namespace of process pid with
// slirp4netns and publishes ports through its API socket; it returns once
// the network is configured.
func connectSlirp4netns(path string, args []string, ports []network.PortMapping, runRoot string, pid int) (*external, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, err
	}
	api := ""
	if len(ports) > 0 {
		api = filepath.Join(runRoot, fmt.Sprintf(".slirp4netns-%d.sock", pid))
		args = append(args, "--api-socket="+api)
		defer os.Remove(api)
	}
	args = append(args, "--ready-fd=3", "--exit-fd=4", strconv.Itoa(pid), "tap0")
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	err = cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		exitW.Close()
		return nil, fmt.Errorf("slirp4netns: %w", err)
	}
	e := &external{cmd: cmd, exit: exitW}
	_ = readyR.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = readyR.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errors.New("not ready after 10 s")
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("slirp4netns: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	for _, p := range ports {
		if err := addHostfwd(api, p); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
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

// pastaArgs returns pasta's arguments for --network pasta:OPTIONS, whose
// options are pasta's own command-line arguments, comma-separated (as
// podman takes them), and ports. The host's loopback is not reachable at
// the gateway's address unless the options say --map-gw.
func pastaArgs(opts string, ports []network.PortMapping) []string {
	args := []string{"--config-net", "--quiet"}
	var own []string
	mapGW := false
	if opts != "" {
		for _, a := range strings.Split(opts, ",") {
			if a == "--map-gw" {
				mapGW = true // pasta's default; older ones lack the flag
				continue
			}
			own = append(own, a)
		}
	}
	if !mapGW {
		args = append(args, "--no-map-gw")
	}
	// The forwarding options the user gave, by their short names: -t,
	// -t8080, --tcp-ports=8080 and --tcp-ports are all -t.
	long := map[string]string{"--tcp-ports": "-t", "--udp-ports": "-u", "--tcp-ns": "-T", "--udp-ns": "-U"}
	forwards := map[string]bool{}
	for _, a := range own {
		name, _, _ := strings.Cut(a, "=")
		if short, ok := long[name]; ok {
			forwards[short] = true
		} else if len(a) >= 2 && a[0] == '-' && strings.IndexByte("tuTU", a[1]) >= 0 {
			forwards[a[:2]] = true
		}
	}
	for _, p := range ports {
		flag := "-t"
		if p.Protocol == "udp" {
			flag = "-u"
		}
		spec := fmt.Sprintf("%d:%d", p.HostPort, p.ContainerPort)
		if p.HostIP.IsValid() {
			spec = p.HostIP.String() + "/" + spec
		}
		args = append(args, flag, spec)
		forwards[flag] = true
	}
	// Nothing forwarded that was not asked for (pasta's default is
	// every port bound in the container).
	for _, f := range []string{"-t", "-u", "-T", "-U"} {
		if !forwards[f] {
			args = append(args, f, "none")
		}
	}
	return append(args, own...)
}

// connectPasta connects the network namespace of process pid with pasta,
// which configures it and goes to the background.
func connectPasta(path string, args []string, runRoot string, pid int) (*external, error) {
	pidFile := filepath.Join(runRoot, fmt.Sprintf(".pasta-%d.pid", pid))
	defer os.Remove(pidFile)
	cmd := exec.Command(path, append(args, "--pid", pidFile, strconv.Itoa(pid))...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pasta: %v: %s", err, strings.TrimSpace(string(out)))
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, fmt.Errorf("pasta: its pid: %w", err)
	}
	daemon, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("pasta: its pid: %w", err)
	}
	return &external{pid: daemon}, nil
}

// Close ends the program and waits (5 s at most) until it has.
func (e *external) Close() error {
	if e.cmd != nil {
		e.exit.Close()
		_, _ = waitOrKill(e.cmd, 5*time.Second)
		return nil
	}
	fd, err := unix.PidfdOpen(e.pid, 0)
	if err != nil {
		return nil // gone already
	}
	defer unix.Close(fd)
	_ = unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 5000); n == 0 {
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		_, _ = unix.Poll(fds, 1000)
	}
	return nil
}

var _ io.Closer = (*external)(nil)
