package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// PrivilegedPortError is a host port an unprivileged user may not bind:
// one below the host's net.ipv4.ip_unprivileged_port_start. It explains
// the way out as podman does, and carries podman's exit status for it,
// 126 (see ExitCode).
type PrivilegedPortError struct {
	Port  uint16 // the host port
	Start int    // net.ipv4.ip_unprivileged_port_start
	Err   error  // the bind's error (EACCES)
}

func (e *PrivilegedPortError) Error() string {
	return fmt.Sprintf("cannot expose privileged port %d, you can add 'net.ipv4.ip_unprivileged_port_start=%d' to /etc/sysctl.conf (currently %d), or choose a larger port number (>= %d): %v",
		e.Port, e.Port, e.Start, e.Start, e.Err)
}

func (e *PrivilegedPortError) Unwrap() error { return e.Err }

// ExitCode is podman's exit status for the failure: 126, that of a
// container that could not start.
func (e *PrivilegedPortError) ExitCode() int { return 126 }

// unprivilegedPortStart returns the host's net.ipv4.ip_unprivileged_port_start
// (that of this process's network namespace).
func unprivilegedPortStart() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// Listeners holds the host sockets of published ports, opened by [Listen]
// before the container starts, so that a port already taken fails the run
// before its command runs.
type Listeners struct {
	TCP []TCPListener
	UDP []UDPListener
}

// TCPListener is the host socket of a published TCP port.
type TCPListener struct {
	Mapping  PortMapping // with the host port actually bound
	Listener net.Listener
}

// UDPListener is the host socket of a published UDP port.
type UDPListener struct {
	Mapping PortMapping // with the host port actually bound
	Conn    *net.UDPConn
}

// Listen opens a host socket for each of ports. If one cannot be opened it
// closes the others and returns an error naming the port, such as
// "publish 127.0.0.1:18080/tcp: address already in use".
func Listen(ports []PortMapping) (*Listeners, error) {
	l := &Listeners{}
	var lc net.ListenConfig
	for _, m := range ports {
		var err error
		switch m.Protocol {
		case "tcp", "":
			m.Protocol = "tcp"
			var nl net.Listener
			if nl, err = lc.Listen(context.Background(), "tcp", m.hostAddr()); err == nil {
				m.HostPort = uint16(nl.Addr().(*net.TCPAddr).Port)
				l.TCP = append(l.TCP, TCPListener{Mapping: m, Listener: nl})
			}
		case "udp":
			var pc net.PacketConn
			if pc, err = lc.ListenPacket(context.Background(), "udp", m.hostAddr()); err == nil {
				uc := pc.(*net.UDPConn)
				m.HostPort = uint16(uc.LocalAddr().(*net.UDPAddr).Port)
				l.UDP = append(l.UDP, UDPListener{Mapping: m, Conn: uc})
			}
		default:
			err = fmt.Errorf("unknown protocol %q", m.Protocol)
		}
		if err != nil {
			l.Close()
			var se *os.SyscallError
			if errors.As(err, &se) {
				err = se.Err
			}
			addr := netip.AddrPortFrom(m.BindIP(), m.HostPort)
			if start, ok := unprivilegedPortStart(); ok && errors.Is(err, syscall.EACCES) && int(m.HostPort) < start {
				err = &PrivilegedPortError{Port: m.HostPort, Start: start, Err: err}
			}
			return nil, fmt.Errorf("publish %s/%s: %w", addr, m.Protocol, err)
		}
	}
	return l, nil
}

// Ports returns the published ports with the host ports actually bound
// (useful when a mapping asked for port 0): TCP ones first.
func (l *Listeners) Ports() []PortMapping {
	if l == nil {
		return nil
	}
	var ms []PortMapping
	for _, t := range l.TCP {
		ms = append(ms, t.Mapping)
	}
	for _, u := range l.UDP {
		ms = append(ms, u.Mapping)
	}
	return ms
}

// Files returns copies of the sockets' descriptors, in the order of Ports,
// to hand to another process (see FromFiles). The caller closes them.
func (l *Listeners) Files() ([]*os.File, error) {
	var files []*os.File
	fail := func(err error) ([]*os.File, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("published port socket: %w", err)
	}
	for _, t := range l.TCP {
		f, err := t.Listener.(*net.TCPListener).File()
		if err != nil {
			return fail(err)
		}
		files = append(files, f)
	}
	for _, u := range l.UDP {
		f, err := u.Conn.File()
		if err != nil {
			return fail(err)
		}
		files = append(files, f)
	}
	return files, nil
}

// FromFiles makes Listeners of sockets received from another process:
// files[i] is the socket of ports[i], as Ports and Files give them. It takes
// ownership of files.
func FromFiles(ports []PortMapping, files []*os.File) (*Listeners, error) {
	if len(ports) != len(files) {
		return nil, fmt.Errorf("published ports: %d sockets for %d ports", len(files), len(ports))
	}
	l := &Listeners{}
	for i, m := range ports {
		var err error
		switch m.Protocol {
		case "tcp":
			var nl net.Listener
			if nl, err = net.FileListener(files[i]); err == nil {
				l.TCP = append(l.TCP, TCPListener{Mapping: m, Listener: nl})
			}
		case "udp":
			var pc net.PacketConn
			if pc, err = net.FilePacketConn(files[i]); err == nil {
				uc, ok := pc.(*net.UDPConn)
				if !ok {
					pc.Close()
					err = errors.New("not a UDP socket")
				} else {
					l.UDP = append(l.UDP, UDPListener{Mapping: m, Conn: uc})
				}
			}
		default:
			err = fmt.Errorf("unknown protocol %q", m.Protocol)
		}
		files[i].Close() // the net package holds its own copy
		if err != nil {
			for _, f := range files[i+1:] {
				f.Close()
			}
			l.Close()
			return nil, fmt.Errorf("published port %s: %w", m, err)
		}
	}
	return l, nil
}

// Close closes the host sockets. It may be called more than once, and on a
// nil *Listeners.
func (l *Listeners) Close() error {
	if l == nil {
		return nil
	}
	var errs []error
	for _, t := range l.TCP {
		if err := t.Listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, u := range l.UDP {
		if err := u.Conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
