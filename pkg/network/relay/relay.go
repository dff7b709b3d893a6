// Package relay hands connections that clients made to a published port on
// the host into a container's network namespace, to be relayed there by a
// process of the namespace (rless's init) between the host's socket and one
// it connects to the container's own port, in the kernel (splice) rather
// than through the userspace stack: the path pasta calls splicing, for the
// clients on the host's loopback. The server in the container then sees
// them come from its own loopback (as behind pasta).
//
// The two sides talk over a SOCK_SEQPACKET socket pair made by [Pair]: the
// host side [Send]s each connection's socket with the addresses to try, the
// namespace side [Serve]s them.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/rless/rless/internal/rawio"
	"golang.org/x/sys/unix"
)

// dialTimeout bounds a connection to the container's port.
const dialTimeout = 10 * time.Second

// Pair returns the two ends of a relay socket: host for [Send], ns for
// [Serve].
func Pair() (host, ns *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("relay socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "relay"), os.NewFile(uintptr(fds[1]), "relay"), nil
}

// Send hands c, a connection accepted on the host, to the namespace side
// of the relay socket sock, which connects to the first of targets that
// accepts and relays; the caller closes its c afterwards.
func Send(sock *os.File, c *net.TCPConn, targets []netip.AddrPort) error {
	f, err := c.File()
	if err != nil {
		return err
	}
	defer f.Close()
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.String()
	}
	return unix.Sendmsg(int(sock.Fd()), []byte(strings.Join(names, " ")), unix.UnixRights(int(f.Fd())), nil, 0)
}

// Serve relays the connections handed over sock until it is closed (the
// host side ended) or ctx is done. It runs in the namespace whose ports
// the targets are. It waits in Go's poller, not in a thread of its own.
func Serve(ctx context.Context, sock *os.File) {
	fc, err := net.FileConn(sock)
	sock.Close()
	if err != nil {
		slog.Debug("relay socket", "err", err)
		return
	}
	conn := fc.(*net.UnixConn)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, 1024)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 && oobn == 0 {
			return
		}
		fd, err := rights(oob[:oobn])
		if err != nil {
			slog.Debug("relay: message without a socket", "err", err)
			continue
		}
		unix.CloseOnExec(fd)
		targets := strings.Fields(string(buf[:n]))
		go relay(ctx, os.NewFile(uintptr(fd), "client"), targets)
	}
}

// rights returns the one descriptor an SCM_RIGHTS message carries.
func rights(oob []byte) (int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("control messages: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return -1, err
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	if len(fds) == 0 {
		return -1, errors.New("no descriptor")
	}
	return fds[0], nil
}

// relay connects to the first of targets that accepts and copies between
// it and the client until both directions end.
func relay(ctx context.Context, f *os.File, targets []string) {
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return
	}
	client := fc.(*net.TCPConn)
	var srv net.Conn
	d := net.Dialer{Timeout: dialTimeout}
	for _, t := range targets {
		if srv, err = d.DialContext(ctx, "tcp", t); err == nil {
			break
		}
	}
	if err != nil {
		client.SetLinger(0) // a reset, as a refused connection
		client.Close()
		return
	}
	server := srv.(*net.TCPConn)
	done := make(chan struct{})
	go func() {
		half(server, client)
		close(done)
	}()
	half(client, server)
	<-done
	client.Close()
	server.Close()
}

// half copies src to dst and then ends dst's sending side.
func half(dst, src *net.TCPConn) {
	if err := splice(dst, src); errors.Is(err, errNoPipe) {
		_, _ = io.Copy(dst, src)
	}
	_ = dst.CloseWrite()
}

// pipeSize is the size asked of a splice's pipe (the most an unprivileged
// process may have by default): fewer, larger moves than the default 64
// KiB.
const pipeSize = 1 << 20

var errNoPipe = errors.New("no pipe")

// splice moves src's data to dst through a pipe, in the kernel, until
// src's end (nil) or an error. The pipe is filled while it has room and
// drained while dst takes data, waiting only when neither can go on: for
// src's data when the pipe is empty, for room in dst when it is not.
func splice(dst, src *net.TCPConn) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return errNoPipe
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	size := pipeSize
	if n, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, pipeSize); err != nil {
		size = 64 << 10
	} else {
		size = n
	}
	rs, err := src.SyscallConn()
	if err != nil {
		return err
	}
	rd, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	const flags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK
	inPipe, eof := 0, false
	for {
		progress := false
		var serr error
		if !eof && inPipe < size {
			err := rs.Read(func(fd uintptr) bool {
				var n int64
				n, serr = rawio.Splice(int(fd), p[1], size-inPipe, flags)
				switch {
				case serr == unix.EAGAIN && inPipe == 0:
					return false // nothing to do but wait for src
				case serr == unix.EAGAIN:
					serr = nil
				case serr == nil && n == 0:
					eof = true
				case serr == nil:
					inPipe += int(n)
					progress = true
				}
				return true
			})
			if err != nil {
				return err
			}
			if serr != nil {
				return serr
			}
		}
		if inPipe > 0 {
			err := rd.Write(func(fd uintptr) bool {
				var n int64
				n, serr = rawio.Splice(p[0], int(fd), inPipe, flags)
				switch {
				case serr == unix.EAGAIN && (eof || inPipe == size || !progress):
					return false // wait for room in dst
				case serr == unix.EAGAIN:
					serr = nil
				case serr == nil:
					inPipe -= int(n)
				}
				return true
			})
			if err != nil {
				return err
			}
			if serr != nil {
				return serr
			}
		}
		if eof && inPipe == 0 {
			return nil
		}
	}
}
