// Package payload appends a program to another and finds it again: rless
// carries its image engine this way (see cmd/rless/engine.go). The layout
// is the host program, the payload, then a trailer of the magic string and
// the payload's length (8 bytes, little-endian).
package payload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

const magic = "RLESSENG"

// trailerSize is the length of the trailer after the payload.
const trailerSize = len(magic) + 8

// ErrNone is returned by Find when the file carries no payload.
var ErrNone = errors.New("no payload")

// Append writes host, then payload and the trailer, to out.
func Append(out io.Writer, host, payload io.Reader) error {
	if _, err := io.Copy(out, host); err != nil {
		return err
	}
	n, err := io.Copy(out, payload)
	if err != nil {
		return err
	}
	var t [trailerSize]byte
	copy(t[:], magic)
	binary.LittleEndian.PutUint64(t[len(magic):], uint64(n))
	_, err = out.Write(t[:])
	return err
}

// Find returns the payload of f, or ErrNone.
func Find(f *os.File) (*io.SectionReader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size < int64(trailerSize) {
		return nil, ErrNone
	}
	var t [trailerSize]byte
	if _, err := f.ReadAt(t[:], size-int64(trailerSize)); err != nil {
		return nil, fmt.Errorf("read payload trailer: %w", err)
	}
	if string(t[:len(magic)]) != magic {
		return nil, ErrNone
	}
	n := int64(binary.LittleEndian.Uint64(t[len(magic):]))
	if n <= 0 || n > size-int64(trailerSize) {
		return nil, fmt.Errorf("corrupt payload trailer")
	}
	return io.NewSectionReader(f, size-int64(trailerSize)-n, n), nil
}
