// Package payload appends programs to another and finds them again: rless
// carries its image engine and its network stack this way (see
// cmd/rless/engine.go). The layout is the host program, then for each
// payload its bytes and a trailer of its 8-byte name and its length (8
// bytes, little-endian). Names start with "RLESS".
package payload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Names of rless's payloads.
const (
	Engine   = "RLESSENG" // the image engine (cmd/rless built with rless_engine)
	Netstack = "RLESSNET" // the network stack (cmd/rless-netstack)
	Monitor  = "RLESSMON" // the supervisor of detached containers (cmd/rless-supervisor)
	Init     = "RLESSINI" // the detached containers' init (cmd/rless-init)
)

// Source is the program whose payloads Load and Extract read: the running
// one by default. A program run from another's payload (the supervisor)
// sets it to that program.
var Source = "/proc/self/exe"

// trailerSize is the length of the trailer after a payload.
const trailerSize = 16

// ErrNone is returned by Find when the file carries no such payload.
var ErrNone = errors.New("no payload")

// Payload is one program to append.
type Payload struct {
	Name string // 8 bytes, starting with RLESS
	R    io.Reader
}

// Append writes host, then each payload with its trailer, to out.
func Append(out io.Writer, host io.Reader, payloads ...Payload) error {
	if _, err := io.Copy(out, host); err != nil {
		return err
	}
	for _, p := range payloads {
		if len(p.Name) != 8 || !strings.HasPrefix(p.Name, "RLESS") {
			return fmt.Errorf("payload name %q: want 8 bytes starting with RLESS", p.Name)
		}
		n, err := io.Copy(out, p.R)
		if err != nil {
			return err
		}
		var t [trailerSize]byte
		copy(t[:], p.Name)
		binary.LittleEndian.PutUint64(t[8:], uint64(n))
		if _, err := out.Write(t[:]); err != nil {
			return err
		}
	}
	return nil
}

// Find returns the payload of f named name, or ErrNone.
func Find(f *os.File, name string) (*io.SectionReader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	end := fi.Size()
	for end >= trailerSize {
		var t [trailerSize]byte
		if _, err := f.ReadAt(t[:], end-trailerSize); err != nil {
			return nil, fmt.Errorf("read payload trailer: %w", err)
		}
		if !strings.HasPrefix(string(t[:8]), "RLESS") {
			break
		}
		n := int64(binary.LittleEndian.Uint64(t[8:]))
		if n <= 0 || n > end-trailerSize {
			return nil, errors.New("corrupt payload trailer")
		}
		if string(t[:8]) == name {
			return io.NewSectionReader(f, end-trailerSize-n, n), nil
		}
		end -= trailerSize + n
	}
	return nil, ErrNone
}

// Load copies the payload name of the running program into an executable
// memory file, to execute as /proc/self/fd/N. It wraps ErrNone when the
// program carries no such payload.
func Load(name string) (*os.File, error) {
	exe, err := os.Open(Source)
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	r, err := Find(exe, name)
	if err != nil {
		return nil, err
	}
	// MFD_EXEC: where vm.memfd_noexec makes memfds non-executable by
	// default (Linux 6.3 and later); older kernels refuse the flag.
	fd, err := unix.MemfdCreate(strings.ToLower(name), unix.MFD_CLOEXEC|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate(strings.ToLower(name), unix.MFD_CLOEXEC)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), strings.ToLower(name))
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy payload: %w", err)
	}
	return f, nil
}

// extractChunk is the size of Extract's writes. The page cache holds a
// file in folios as large as the writes that made them (up to megabytes
// on ext4 since Linux 6.x), and a process that runs one page of a program
// maps the whole folio holding it: an rless supervisor extracted in one
// copy mapped all of its 8.6 MB program. 64 KiB is the kernel's
// fault-around, what a page fault maps anyway (measured: touching a page
// per MiB of a file maps 8.3 MB of it written in 4 MiB writes, 576 kB
// written in 64 KiB writes).
const extractChunk = 64 << 10

// Extract writes the payload name of the running program to an executable
// file in dir, once per build of the program (the file's name carries the
// program's device, inode, size and modification time), and returns its
// path: executing a file is cheaper than copying the payload into a memory
// file on every start (see Load). dir should be private to the user and on
// a tmpfs (rless's run root). Copies of other builds there are removed.
func Extract(name, dir string) (string, error) {
	exe, err := os.Open(Source)
	if err != nil {
		return "", err
	}
	defer exe.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(exe.Fd()), &st); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%x-%x-%x-%x", strings.ToLower(name), st.Dev, st.Ino, st.Size, st.Mtim.Nano()))
	if unix.Access(path, unix.X_OK) == nil {
		return path, nil
	}
	r, err := Find(exe, name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// No fork of this process may copy the descriptor written through
	// while it is open: executing the file fails with ETXTBSY as long as
	// any process holds it open for writing (go.dev/issue/22315).
	syscall.ForkLock.RLock()
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		syscall.ForkLock.RUnlock()
		return "", err
	}
	// Written in pieces of extractChunk, not copied by the kernel
	// (io.Copy's copy_file_range): see extractChunk.
	_, err = io.CopyBuffer(struct{ io.Writer }{tmp}, struct{ io.Reader }{r}, make([]byte, extractChunk))
	err = errors.Join(err, tmp.Chmod(0o700), tmp.Close())
	syscall.ForkLock.RUnlock()
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("extract %s: %w", name, err)
	}
	// Copies extracted from other builds go: one per name is kept.
	old, _ := filepath.Glob(filepath.Join(dir, strings.ToLower(name)+"-*"))
	for _, o := range old {
		if o != path {
			os.Remove(o)
		}
	}
	return path, nil
}
