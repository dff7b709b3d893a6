package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rless/rless/pkg/container"
	"golang.org/x/sys/unix"
)

// The attach protocol, on the monitor's socket: frames of a kind byte, a
// 4-byte big-endian length and the payload. The monitor sends the
// container's output (stdout, stderr) as it comes and, when its last run
// ends, its exit status; the client sends standard input, its end, and
// the terminal's size.
const (
	frameStdout   = 'o'
	frameStderr   = 'e'
	frameExit     = 'x'
	frameStdin    = 'i'
	frameStdinEOF = 'c'
	frameResize   = 'r'
)

func writeFrame(w io.Writer, kind byte, p []byte) error {
	hdr := make([]byte, 5, 5+len(p))
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	_, err := w.Write(append(hdr, p...))
	return err
}

// encodeFrame returns the frame of kind carrying p.
func encodeFrame(kind byte, p []byte) []byte {
	var b bytes.Buffer
	_ = writeFrame(&b, kind, p)
	return b.Bytes()
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > 1<<20 {
		return 0, nil, errors.New("attach: frame too large")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return hdr[0], p, err
}

// attachHub is the monitor's side: the clients attached now.
type attachHub struct {
	mu       sync.Mutex
	clients  map[*attachClient]struct{}
	stdin    *os.File
	terminal *container.Container
	exited   bool
	code     int
	// With hold, output is kept (up to maxBacklog bytes of frames) until
	// the first client attaches, which gets it first.
	hold    bool
	backlog [][]byte
	held    int
	// writers counts the clients' writing goroutines (see drain).
	writers sync.WaitGroup
	// attached is closed when the first client has attached.
	attached chan struct{}
}

// maxBacklog is the most output held for the first client.
const maxBacklog = 1 << 20

type attachClient struct {
	conn net.Conn
	out  chan []byte // frames, dropped with the client when it cannot keep up
}

func newAttachHub(hold bool) *attachHub {
	return &attachHub{clients: map[*attachClient]struct{}{}, hold: hold, attached: make(chan struct{})}
}

func (h *attachHub) setStdin(f *os.File) {
	h.mu.Lock()
	h.stdin = f
	h.mu.Unlock()
}

func (h *attachHub) setTerminal(c *container.Container) {
	h.mu.Lock()
	h.terminal = c
	h.mu.Unlock()
}

func (h *attachHub) broadcast(kind byte, p []byte) {
	frame := encodeFrame(kind, p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold {
		if h.held+len(frame) <= maxBacklog || kind == frameExit {
			h.backlog = append(h.backlog, frame)
			h.held += len(frame)
		}
		return
	}
	for c := range h.clients {
		select {
		case c.out <- frame:
		default:
			slog.Debug("attach: dropping a client that does not keep up")
			delete(h.clients, c)
			close(c.out)
		}
	}
}

// exit tells the clients that the container's last run ended with code.
func (h *attachHub) exit(code int) {
	h.broadcast(frameExit, []byte(strconv.Itoa(code)))
	h.mu.Lock()
	h.exited, h.code = true, code
	for c := range h.clients {
		delete(h.clients, c)
		close(c.out)
	}
	h.mu.Unlock()
}

// drain waits until the clients have been sent everything, and with hold
// (no client came yet) until the first one has, at most timeout.
func (h *attachHub) drain(timeout time.Duration) {
	h.mu.Lock()
	hold := h.hold
	h.mu.Unlock()
	deadline := time.After(timeout)
	if hold {
		select {
		case <-h.attached:
		case <-deadline:
			return
		}
	}
	done := make(chan struct{})
	go func() {
		h.writers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-deadline:
	}
}

// listenAttach listens on the monitor's attach socket (through the
// directory's descriptor: the full path may be too long for a socket
// address).
func (m *monitor) listenAttach() (net.Listener, error) {
	p := m.e.monitorPath(m.d.ID, ".sock")
	_ = os.Remove(p)
	var ln net.Listener
	err := viaDir(p, func(addr string) (err error) {
		ln, err = net.Listen("unix", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	return ln, nil
}

// viaDir calls f with an address for the socket path p that fits a socket
// address: /proc/self/fd/N/NAME, N a descriptor of p's directory.
func viaDir(p string, f func(addr string) error) error {
	d, err := unix.Open(filepath.Dir(p), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	return f("/proc/self/fd/" + strconv.Itoa(d) + "/" + filepath.Base(p))
}

func (m *monitor) serveAttach(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		// Only this user's processes get here: the socket is in the
		// user's 0700 run root.
		go m.hub.serve(conn)
	}
}

func (h *attachHub) serve(conn net.Conn) {
	h.writers.Add(1)
	defer h.writers.Done()
	defer conn.Close()
	h.mu.Lock()
	backlog := h.backlog
	c := &attachClient{conn: conn, out: make(chan []byte, 1024+len(backlog))}
	for _, f := range backlog {
		c.out <- f // the exit frame among them, if the container ended
	}
	if h.hold {
		h.hold, h.backlog = false, nil
		close(h.attached)
	}
	if h.exited {
		// It gets what was held for it, else the exit status, and no more.
		if len(backlog) == 0 {
			c.out <- encodeFrame(frameExit, []byte(strconv.Itoa(h.code)))
		}
		close(c.out)
	} else {
		h.clients[c] = struct{}{}
		go h.readInput(c)
	}
	h.mu.Unlock()
	for frame := range c.out {
		if _, err := conn.Write(frame); err != nil {
			break
		}
	}
}

// readInput applies what client c sends until it goes.
func (h *attachHub) readInput(c *attachClient) {
	for {
		kind, p, err := readFrame(c.conn)
		if err != nil {
			h.mu.Lock()
			if _, ok := h.clients[c]; ok {
				delete(h.clients, c)
				close(c.out)
			}
			h.mu.Unlock()
			return
		}
		h.input(kind, p)
	}
}

// input applies what a client sent.
func (h *attachHub) input(kind byte, p []byte) {
	h.mu.Lock()
	stdin, term := h.stdin, h.terminal
	h.mu.Unlock()
	switch kind {
	case frameStdin:
		if stdin != nil {
			_, _ = stdin.Write(p)
		}
	case frameStdinEOF:
		if stdin != nil {
			h.mu.Lock()
			h.stdin = nil
			h.mu.Unlock()
			stdin.Close()
		}
	case frameResize:
		if term != nil && len(p) == 4 {
			_ = term.Resize(binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
		}
	}
}

// DefaultDetachKeys is podman's: Ctrl-P Ctrl-Q.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// ParseDetachKeys parses podman's --detach-keys: comma-separated keys, a
// single character or ctrl-X (X a letter or one of @[\]^_); "" means
// none (no detaching).
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(k, "ctrl-") && len(k) == 6:
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c >= '@' && c <= '_':
				out = append(out, c-'@')
			default:
				return nil, fmt.Errorf("detach keys %q: unknown key %q", s, k)
			}
		default:
			return nil, fmt.Errorf("detach keys %q: unknown key %q", s, k)
		}
	}
	return out, nil
}

// AttachOptions say how Attach connects to a container.
type AttachOptions struct {
	// Stdin, if not nil, is sent to the container's standard input (it
	// must have been created Interactive), until it ends.
	Stdin io.Reader
	// Stdout and Stderr receive the container's output from now on (a
	// terminal's goes to Stdout).
	Stdout, Stderr io.Writer
	// DetachKeys, read on Stdin, detach from the container, which goes
	// on (see ParseDetachKeys); nil: none.
	DetachKeys []byte
	// Resize, if not nil, gives the terminal's size whenever it changes
	// (rows, columns).
	Resize <-chan [2]uint16
	// Size is the terminal's size (rows, columns) when StartAttached
	// starts the container; zero: the default.
	Size [2]uint16
}

// StartAttached starts a detached container with Attach's connection made
// from its first output on (nothing it writes before is lost) and returns
// as Attach does: with its exit status when it ends, or ErrDetached when
// the detach keys were read (it goes on running). This is podman's run
// -it: a detached container that the terminal is attached to at once.
func (c *Container) StartAttached(ctx context.Context, o AttachOptions) (int, error) {
	if !c.detached {
		return -1, fmt.Errorf("container %s: StartAttached needs a detached container (Config.Detach)", c.shortName())
	}
	if err := c.e.startMonitor(ctx, monitorArgs{ID: c.id, Hold: true, Rows: o.Size[0], Cols: o.Size[1]}); err != nil {
		return -1, err
	}
	return c.Attach(ctx, o)
}

// ErrDetached is returned by Attach when the detach keys were read.
var ErrDetached = errors.New("detached from the container")

// Attach connects to the standard streams of a running detached container
// until its last run ends (it returns the exit status then), ctx is done,
// or the detach keys are read (ErrDetached).
func (c *Container) Attach(ctx context.Context, o AttachOptions) (int, error) {
	if !c.detached || c.e.monitorPid(c.id) == 0 {
		return -1, fmt.Errorf("you can only attach to running containers: container %s: %w", c.shortName(), ErrNotRunning)
	}
	var conn net.Conn
	err := viaDir(c.e.monitorPath(c.id, ".sock"), func(addr string) (err error) {
		conn, err = net.Dial("unix", addr)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("attach to container %s: %w", c.shortName(), err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wmu sync.Mutex
	send := func(kind byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(conn, kind, p)
	}
	detached := make(chan struct{})
	if o.Stdin != nil {
		go func() {
			if copyDetaching(o.Stdin, o.DetachKeys, func(p []byte) error { return send(frameStdin, p) }) {
				close(detached)
				conn.Close()
				return
			}
			_ = send(frameStdinEOF, nil)
		}()
	}
	if o.Resize != nil {
		go func() {
			for sz := range o.Resize {
				var p [4]byte
				binary.BigEndian.PutUint16(p[:], sz[0])
				binary.BigEndian.PutUint16(p[2:], sz[1])
				if send(frameResize, p[:]) != nil {
					return
				}
			}
		}()
	}
	for {
		kind, p, err := readFrame(conn)
		if err != nil {
			select {
			case <-detached:
				return -1, ErrDetached
			default:
			}
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			// The monitor went without saying how the container ended
			// (it was killed): its record says it, once it is gone.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			werr := c.e.waitMonitor(wctx, c.id)
			cancel()
			if info, ierr := c.Info(); werr == nil && ierr == nil && info.Status == Stopped {
				return info.ExitCode, nil
			}
			return -1, fmt.Errorf("attach to container %s: %w", c.shortName(), err)
		}
		switch kind {
		case frameStdout:
			if o.Stdout != nil {
				_, _ = o.Stdout.Write(p)
			}
		case frameStderr:
			if o.Stderr != nil {
				_, _ = o.Stderr.Write(p)
			}
		case frameExit:
			code, _ := strconv.Atoi(string(p))
			return code, nil
		}
	}
}

// copyDetaching copies r through send until r ends (false) or the detach
// keys are read (true). Keys that start the sequence are held back until
// it is clear whether the sequence follows.
func copyDetaching(r io.Reader, keys []byte, send func([]byte) error) bool {
	buf := make([]byte, 32<<10)
	matched := 0
	for {
		n, err := r.Read(buf)
		if n > 0 {
			var out []byte
			for _, b := range buf[:n] {
				if len(keys) > 0 && b == keys[matched] {
					matched++
					if matched == len(keys) {
						if len(out) > 0 {
							_ = send(out)
						}
						return true
					}
					continue
				}
				if matched > 0 {
					out = append(out, keys[:matched]...)
					matched = 0
					if len(keys) > 0 && b == keys[0] {
						matched = 1
						continue
					}
				}
				out = append(out, b)
			}
			if len(out) > 0 && send(out) != nil {
				return false
			}
		}
		if err != nil {
			return false
		}
	}
}
