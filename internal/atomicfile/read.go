package atomicfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Read returns the content of path, a small file (as those Write writes),
// with plain system calls: open, read until the end, close. os.ReadFile
// also asks for the size and offers the file to Go's poller, which doubles
// the system calls of a command that reads many such files (rless ps); and
// the pages a fresh buffer for each file touches cost as much again.
func Read(path string) ([]byte, error) {
	var data []byte
	err := read(path, func(b []byte) error {
		data = bytes.Clone(b)
		return nil
	})
	return data, err
}

// ReadJSON decodes path, a small file of JSON, into v, as json.Unmarshal
// of what Read returns would, but from Read's pooled buffer: no copy of
// the file is made (ps decodes several files per container).
func ReadJSON(path string, v any) error {
	return read(path, func(b []byte) error {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
}

// read calls f with the content of path, in a pooled buffer that f must
// not keep.
func read(path string, f func([]byte) error) error {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			if cap(buf) <= maxPooled {
				*bp = buf
			}
			return f(buf)
		}
		buf = buf[:len(buf)+n]
	}
}

// maxPooled is the largest buffer kept for the next Read.
const maxPooled = 64 << 10

var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}
