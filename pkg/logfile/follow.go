package logfile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// switchFile, at the end of the file, looks whether the log was replaced
// (by a Writer capping its size) or truncated, and if so makes the reader
// read on from the first entry not read yet. It reports whether it did.
func (r *reader) switchFile(ctx context.Context) (bool, error) {
	cur, err := r.f.Stat()
	if err != nil {
		return false, fmt.Errorf("read log: %w", err)
	}
	if cur.Size() < r.lr.pos() {
		// Truncated in place: read it again from the start.
		return true, r.reopen(ctx, r.f, 0)
	}
	fi, err := os.Stat(r.path)
	if err != nil || os.SameFile(fi, cur) {
		// Not replaced, or removed: nothing more will come but from the
		// open file.
		return false, nil
	}
	f, err := os.Open(r.path)
	if err != nil {
		return false, nil // replaced or removed again: look next time
	}
	// The old file was complete when it was renamed over: read its end.
	if err := r.readLines(ctx); err != nil {
		_ = f.Close()
		return false, err
	}
	skip, err := overlap(r.f, f)
	if err == nil {
		_, err = f.Seek(skip, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return false, fmt.Errorf("read log %s: %w", r.path, err)
	}
	_ = r.f.Close() // read only
	r.f = f
	return true, r.reopen(ctx, f, skip)
}

// reopen makes the reader read f, positioned at off. Unless off shows
// that f goes on from the file read so far, the lines left partial are
// ended: their ends were lost.
func (r *reader) reopen(ctx context.Context, f *os.File, off int64) error {
	if off == 0 {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("read log %s: %w", r.path, err)
		}
		if err := r.endLines(true); err != nil {
			return err
		}
	}
	r.lr.reset(f, off)
	r.drop = nil
	return ctx.Err()
}

// overlap returns how many bytes at the start of the new file nf repeat
// the end of the old one, which it replaced: the entries the Writer kept
// when it rotated the log. It looks for the longest such repetition that
// begins at an entry of the old file.
func overlap(old, nf *os.File) (int64, error) {
	oi, err := old.Stat()
	if err != nil {
		return 0, err
	}
	ni, err := nf.Stat()
	if err != nil {
		return 0, err
	}
	size := oi.Size()
	first, err := firstLine(nf, ni.Size())
	if err != nil || first == nil {
		return 0, err
	}
	// The candidates are the entries that begin in old[lo:size]: the
	// repetition is no longer than the new file.
	lo := max(size-ni.Size(), 0)
	from := max(lo-1, 0)
	br := bufio.NewReaderSize(io.NewSectionReader(old, from, size-from), len(first)+4096)
	off := from
	if lo > 0 {
		// Skip to the first entry that begins at lo or after.
		skipped, err := skipLine(br)
		if err != nil {
			return 0, nil
		}
		off += skipped
	}
	for off < size {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			// Longer than the first line.
			n, err := skipLine(br)
			if err != nil {
				return 0, nil
			}
			off += int64(len(line)) + n
			continue
		case err != nil:
			return 0, nil
		}
		if bytes.Equal(line, first) {
			same, err := sameBytes(old, off, nf, size-off)
			if err != nil || same {
				return size - off, err
			}
		}
		off += int64(len(line))
	}
	return 0, nil
}

// skipLine reads up to and including the next newline, and returns how
// many bytes it read.
func skipLine(br *bufio.Reader) (int64, error) {
	var n int64
	for {
		line, err := br.ReadSlice('\n')
		n += int64(len(line))
		if !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
	}
}

// firstLine returns the first line of f, with its newline, or nil if it
// has none shorter than 64 KiB.
func firstLine(f *os.File, size int64) ([]byte, error) {
	buf := make([]byte, min(size, 64<<10))
	n, err := f.ReadAt(buf, 0)
	if n < len(buf) {
		return nil, eofIsNil(err)
	}
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		return buf[:i+1], nil
	}
	return nil, nil
}

// sameBytes reports whether old[off:off+n] and nf[0:n] are the same.
func sameBytes(old *os.File, off int64, nf *os.File, n int64) (bool, error) {
	a := make([]byte, 32<<10)
	b := make([]byte, len(a))
	for done := int64(0); done < n; {
		k := min(int64(len(a)), n-done)
		if _, err := old.ReadAt(a[:k], off+done); err != nil {
			return false, eofIsNil(err)
		}
		if _, err := nf.ReadAt(b[:k], done); err != nil {
			return false, eofIsNil(err)
		}
		if !bytes.Equal(a[:k], b[:k]) {
			return false, nil
		}
		done += k
	}
	return true, nil
}

// eofIsNil returns err, or nil if it is io.EOF.
func eofIsNil(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
