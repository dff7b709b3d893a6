// Package syncmsg is the message channel between rless and the processes it
// re-executes: small messages over a SOCK_SEQPACKET socket pair, each of
// which may carry file descriptors.
package syncmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Msg is one message. Type says what it is; the other fields are set as the
// type needs.
type Msg struct {
	Type  string
	Error string
	Code  int
	Pid   int
}

// Message types.
const (
	UIDMapped = "uidmapped" // parent → child: the uid mapping is written (gids may follow)
	Mapped    = "mapped"    // parent → child: all mappings are written, go on
	PTY       = "pty"       // child → parent: carries the pty master
	Tap       = "tap"       // child → parent → network stack: carries the tap device
	NetReady  = "netready"  // parent → child: the network namespace is connected
	Created   = "created"   // child → parent: the container is made; the init waits for Start at the barrier
	Started   = "started"   // child → parent: the command runs
	Exited    = "exited"    // child → parent: the command has ended, with status Code; the init ends next
	Failed    = "error"     // child → parent: setup failed; Error and Code say how
)

// maxMsg bounds a message (an error text is the only long part); a small
// buffer spares a fresh process the page faults of a big one.
const maxMsg = 4096

// Conn is one end of a socket pair.
type Conn struct{ f *os.File }

// Pair returns two connected ends, both close-on-exec.
func Pair() (*Conn, *Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return &Conn{os.NewFile(uintptr(fds[0]), "sync-parent")}, &Conn{os.NewFile(uintptr(fds[1]), "sync-child")}, nil
}

// FromFD wraps an inherited descriptor.
func FromFD(fd int) *Conn { return &Conn{os.NewFile(uintptr(fd), "sync")} }

// File returns the underlying file (to pass it to a child process).
func (c *Conn) File() *os.File { return c.f }

// Close closes the connection.
func (c *Conn) Close() error { return c.f.Close() }

// Send writes m, passing fds along with it.
func (c *Conn) Send(m Msg, fds ...int) error {
	if len(m.Error) > maxMsg-64 {
		m.Error = m.Error[:maxMsg-64]
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	err := unix.Sendmsg(int(c.f.Fd()), encode(m), oob, nil, 0)
	runtime.KeepAlive(c.f)
	if err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// Recv reads one message and the descriptors that came with it. It returns
// io.EOF when the other end is closed (for example by exec).
func (c *Conn) Recv() (Msg, []int, error) {
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(int(c.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	runtime.KeepAlive(c.f)
	if err != nil {
		return Msg{}, nil, fmt.Errorf("receive message: %w", err)
	}
	if n == 0 {
		return Msg{}, nil, io.EOF
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return Msg{}, nil, fmt.Errorf("parse control message: %w", err)
		}
		for _, cm := range cmsgs {
			got, err := unix.ParseUnixRights(&cm)
			if err == nil {
				fds = append(fds, got...)
			}
		}
	}
	m, err := decode(buf[:n])
	return m, fds, err
}

// The wire form: the type, the error text (both length-prefixed), the code
// and the pid, as varints. A fresh process decodes it without the
// reflection encoding/json would cost it.
func encode(m Msg) []byte {
	b := binary.AppendUvarint(nil, uint64(len(m.Type)))
	b = append(b, m.Type...)
	b = binary.AppendUvarint(b, uint64(len(m.Error)))
	b = append(b, m.Error...)
	b = binary.AppendVarint(b, int64(m.Code))
	return binary.AppendVarint(b, int64(m.Pid))
}

var errBadMsg = errors.New("decode message: malformed")

func decode(b []byte) (Msg, error) {
	var m Msg
	var ok bool
	if m.Type, b, ok = str(b); !ok {
		return m, errBadMsg
	}
	if m.Error, b, ok = str(b); !ok {
		return m, errBadMsg
	}
	code, n := binary.Varint(b)
	if n <= 0 {
		return m, errBadMsg
	}
	pid, n2 := binary.Varint(b[n:])
	if n2 <= 0 || n+n2 != len(b) {
		return m, errBadMsg
	}
	m.Code, m.Pid = int(code), int(pid)
	return m, nil
}

func str(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, false
	}
	return string(b[n : n+int(l)]), b[n+int(l):], true
}
