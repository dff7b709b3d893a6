// Package syncmsg is the message channel between rless and the processes it
// re-executes: JSON messages over a SOCK_SEQPACKET socket pair, each of which
// may carry file descriptors.
package syncmsg

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Msg is one message. Type says what it is; the other fields are set as the
// type needs.
type Msg struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
	Pid   int    `json:"pid,omitempty"`
}

// Message types.
const (
	UIDMapped = "uidmapped" // parent → child: the uid mapping is written (gids may follow)
	Mapped    = "mapped"    // parent → child: all mappings are written, go on
	PTY       = "pty"       // child → parent: carries the pty master
	Started   = "started"   // child → parent: the command runs
	Failed    = "error"     // child → parent: setup failed; Error and Code say how
)

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
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	err = unix.Sendmsg(int(c.f.Fd()), b, oob, nil, 0)
	runtime.KeepAlive(c.f)
	if err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// Recv reads one message and the descriptors that came with it. It returns
// io.EOF when the other end is closed (for example by exec).
func (c *Conn) Recv() (Msg, []int, error) {
	var m Msg
	buf := make([]byte, 64<<10)
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
		return m, nil, fmt.Errorf("receive message: %w", err)
	}
	if n == 0 {
		return m, nil, io.EOF
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return m, nil, fmt.Errorf("parse control message: %w", err)
		}
		for _, cm := range cmsgs {
			got, err := unix.ParseUnixRights(&cm)
			if err == nil {
				fds = append(fds, got...)
			}
		}
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return m, fds, fmt.Errorf("decode message: %w", err)
	}
	return m, fds, nil
}
