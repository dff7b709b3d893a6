// Package pollbuf reads from descriptors into buffers taken from a pool
// only once there is something to read.
//
// A goroutine that waits in read(2) with a buffer of its own holds that
// buffer for as long as it waits: a supervisor of a hundred containers
// that print nothing would hold a hundred output buffers and a hundred
// frame buffers. Waiting for readiness first (Go's poller) and taking a
// buffer only to read leaves the idle ones in one pool.
package pollbuf

import (
	"errors"
	"io"
	"sync"
	"syscall"

	"github.com/rless/rless/internal/rawio"
	"golang.org/x/sys/unix"
)

// A Pool holds buffers of one size.
type Pool struct {
	size int
	p    sync.Pool
	read func(fd uintptr, b []byte) (int, error)
}

// New returns a pool of buffers of size bytes.
func New(size int) *Pool {
	return newPool(size, func(fd uintptr, b []byte) (int, error) { return unix.Read(int(fd), b) })
}

// NewRaw is New for descriptors that Go's poller watches (non-blocking)
// only: Read reads them with raw system calls (see package rawio). The
// network stack reads its tap this way.
func NewRaw(size int) *Pool {
	return newPool(size, rawio.Read)
}

func newPool(size int, read func(fd uintptr, b []byte) (int, error)) *Pool {
	p := &Pool{size: size, read: read}
	p.p.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return p
}

// Get returns a buffer of the pool's size.
func (p *Pool) Get() *[]byte { return p.p.Get().(*[]byte) }

// Put gives b back to the pool.
func (p *Pool) Put(b *[]byte) {
	if b != nil && len(*b) == p.size {
		p.p.Put(b)
	}
}

// Read waits until c's descriptor is readable and reads from it into a
// buffer of the pool, which it returns with the count of bytes read; the
// caller gives it back with Put. A descriptor Go's poller does not watch
// (a blocking one) is read at once. Read retries EINTR. Zero bytes and a
// nil error mean the end of the file; an error from c itself (closed)
// comes with a nil buffer.
func (p *Pool) Read(c syscall.RawConn) (*[]byte, int, error) {
	for {
		var b *[]byte
		var n int
		var rerr error
		err := c.Read(func(fd uintptr) bool {
			b = p.Get()
			n, rerr = p.read(fd, *b)
			if rerr == unix.EAGAIN {
				p.Put(b)
				b = nil
				return false
			}
			return true
		})
		if err != nil {
			p.Put(b)
			return nil, 0, err
		}
		if errors.Is(rerr, unix.EINTR) {
			p.Put(b)
			continue
		}
		if rerr != nil {
			n = 0
		}
		return b, n, rerr
	}
}

// Copy copies from src to dst until src ends (returning a nil error) or
// an error, reading with Read: buffers of the pool are held only while
// data passes.
func (p *Pool) Copy(dst io.Writer, src syscall.Conn) (int64, error) {
	c, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		b, n, err := p.Read(c)
		if n > 0 {
			w, werr := dst.Write((*b)[:n])
			total += int64(w)
			if werr == nil && w < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				p.Put(b)
				return total, werr
			}
		}
		p.Put(b)
		if err != nil || n == 0 {
			return total, err
		}
	}
}
