// Package rawio reads, writes and splices non-blocking descriptors with raw
// system calls, for the network's hot paths: the tap's frames and the
// host's side of connections in the userspace stack, and the kernel relay
// of published ports.
//
// A plain read or write (syscall.Read, net.Conn.Write, unix.Splice) enters
// the Go runtime's system-call state. The first such call after the
// process was idle wakes the runtime's monitor thread (sysmon), which then
// polls every 20 µs for a millisecond; and a call that lasts longer than
// one of those polls (a splice of a full pipe into a loopback socket) has
// its processor handed to another thread, and taken back after. On a VM
// each of those wake-ups is an interrupt between virtual CPUs. The
// network stack and the container's init run one processor
// (GOMAXPROCS=1), and on a one-byte round trip they idle between every
// frame: sysmon took a fifth of the stack's CPU time (BENCHMARKS.md, "The
// Go runtime's monitor").
//
// A raw system call on a descriptor that never blocks does none of that.
// It holds the processor while it runs, which a non-blocking call only
// does for the work it has to do anyway. The waits stay in Go's poller:
// use these functions inside syscall.RawConn's Read and Write, as [Conn]
// does. Never on a blocking descriptor: it would stop every goroutine of
// a process with one processor until it returns.
package rawio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read reads from fd, a non-blocking descriptor, into b.
func Read(fd uintptr, b []byte) (int, error) { return call(unix.SYS_READ, fd, b) }

// Write writes b to fd, a non-blocking descriptor.
func Write(fd uintptr, b []byte) (int, error) { return call(unix.SYS_WRITE, fd, b) }

// call makes system call trap (read or write) on fd with b.
func call(trap, fd uintptr, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(trap, fd, uintptr(p), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Splice moves up to n bytes from in to out, one of them a pipe, both
// non-blocking (pass SPLICE_F_NONBLOCK in flags for the pipe), without
// offsets.
func Splice(in, out, n, flags int) (int64, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), uintptr(flags))
	if e != 0 {
		return 0, e
	}
	return int64(r), nil
}

// Conn is a TCP connection whose Read and Write are raw system calls that
// wait in Go's poller (deadlines and Close end the waits as usual); the
// rest is the connection's.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn
}

// TCP returns c as a [Conn] if it is a *net.TCPConn, else c itself.
func TCP(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return Conn{tc, rc}
}

// Read implements io.Reader: io.EOF once the peer has ended its side.
func (c Conn) Read(b []byte) (int, error) {
	for {
		var n int
		var rerr error
		err := c.rc.Read(func(fd uintptr) bool {
			n, rerr = Read(fd, b)
			return rerr != unix.EAGAIN
		})
		switch {
		case err != nil:
			return 0, err
		case rerr == unix.EINTR:
			continue
		case rerr != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write implements io.Writer: it returns once all of b is written, or on
// an error.
func (c Conn) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		var n int
		var werr error
		err := c.rc.Write(func(fd uintptr) bool {
			n, werr = Write(fd, b[done:])
			return werr != unix.EAGAIN
		})
		switch {
		case err != nil:
			return done, err
		case werr == unix.EINTR:
			continue
		case werr != nil:
			return done, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
		}
		done += n
	}
	return done, nil
}
