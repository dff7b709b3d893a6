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
	// Data is a payload of the message's type (JSON, say); a message
	// larger than the connection's limit (see Conn.SetLimit) is refused.
	Data string
}

// Message types.
const (
	UIDMapped = "uidmapped" // parent → child: the uid mapping is written (gids may follow)
	Mapped    = "mapped"    // parent → child: all mappings are written, go on
	Claim     = "claim"     // parent → spare child: Data is its argument; carries the standard descriptors Code's bits 0-2 name
	PTY       = "pty"       // child → parent: carries the pty master
	Tap       = "tap"       // child → parent → network stack: carries the tap device
	NetReady  = "netready"  // parent → child: the network namespace is connected
	Created   = "created"   // child → parent: the container is made; the init waits for Start at the barrier
	Started   = "started"   // child → parent: the command runs
	Exited    = "exited"    // child → parent: the command has ended, with status Code; the init ends next
	Failed    = "error"     // child → parent: setup failed; Error and Code say how

	// Exec agent (rless's init serving a container's exec socket).
	Exec   = "exec"   // client → init: start the process Data describes; carries its stdin, stdout and stderr, or nothing with a terminal
	Signal = "signal" // client → init: send signal Code to the exec'd process
	// The init answers Exec with Started (Pid; carries the pty master with
	// a terminal) or Failed, and sends Exited once the process has ended.
)

// maxMsg bounds a message (an error text is the only long part); a small
// buffer spares a fresh process the page faults of a big one.
const maxMsg = 4096

// MaxLimit is the largest limit SetLimit accepts: a SOCK_SEQPACKET message
// must fit in the socket's send buffer.
const MaxLimit = 128 << 10

// Conn is one end of a socket pair.
type Conn struct {
	f     *os.File
	limit int // largest message; 0 is maxMsg
}

// SetLimit sets the size of the largest message c sends or receives (at
// most MaxLimit); both ends must agree. The default suits short messages
// without Data.
func (c *Conn) SetLimit(n int) {
	c.limit = min(n, MaxLimit)
}

func (c *Conn) max() int {
	if c.limit > 0 {
		return c.limit
	}
	return maxMsg
}

// Pair returns two connected ends, both close-on-exec.
func Pair() (*Conn, *Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return &Conn{f: os.NewFile(uintptr(fds[0]), "sync-parent")}, &Conn{f: os.NewFile(uintptr(fds[1]), "sync-child")}, nil
}

// FromFD wraps an inherited descriptor.
func FromFD(fd int) *Conn { return &Conn{f: os.NewFile(uintptr(fd), "sync")} }

// File returns the underlying file (to pass it to a child process).
func (c *Conn) File() *os.File { return c.f }

// Close closes the connection.
func (c *Conn) Close() error { return c.f.Close() }

// Send writes m, passing fds along with it.
func (c *Conn) Send(m Msg, fds ...int) error {
	if len(m.Error) > maxMsg-64 {
		m.Error = m.Error[:maxMsg-64]
	}
	b := encode(m)
	if len(b) > c.max() {
		return fmt.Errorf("send %s message: %d bytes, more than the limit of %d", m.Type, len(b), c.max())
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	err := unix.Sendmsg(int(c.f.Fd()), b, oob, nil, 0)
	runtime.KeepAlive(c.f)
	if err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// Recv reads one message and the descriptors that came with it. It returns
// io.EOF when the other end is closed (for example by exec).
func (c *Conn) Recv() (Msg, []int, error) {
	buf := make([]byte, c.max())
	oob := make([]byte, unix.CmsgSpace(4*4))
	var n, oobn, flags int
	var err error
	for {
		n, oobn, flags, _, err = unix.Recvmsg(int(c.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
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
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return Msg{}, nil, errors.New("receive message: message or descriptors truncated")
	}
	m, err := decode(buf[:n])
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return Msg{}, nil, err
	}
	return m, fds, nil
}

// The wire form: the type, the error text (both length-prefixed), the code
// and the pid, as varints, then, when not empty, the data (length-prefixed).
// A fresh process decodes it without the reflection encoding/json would
// cost it.
func encode(m Msg) []byte {
	b := binary.AppendUvarint(nil, uint64(len(m.Type)))
	b = append(b, m.Type...)
	b = binary.AppendUvarint(b, uint64(len(m.Error)))
	b = append(b, m.Error...)
	b = binary.AppendVarint(b, int64(m.Code))
	b = binary.AppendVarint(b, int64(m.Pid))
	if m.Data != "" {
		b = binary.AppendUvarint(b, uint64(len(m.Data)))
		b = append(b, m.Data...)
	}
	return b
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
	if n2 <= 0 {
		return m, errBadMsg
	}
	m.Code, m.Pid = int(code), int(pid)
	if rest := b[n+n2:]; len(rest) > 0 {
		// Data, never empty when present: one encoding per message.
		if m.Data, rest, ok = str(rest); !ok || m.Data == "" || len(rest) != 0 {
			return m, errBadMsg
		}
	}
	return m, nil
}

func str(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, false
	}
	return string(b[n : n+int(l)]), b[n+int(l):], true
}
