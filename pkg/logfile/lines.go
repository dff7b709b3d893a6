package logfile

import (
	"bytes"
	"errors"
	"io"
	"os"
)

// maxLine is the longest line Read takes for an entry (a Writer's are
// shorter than MaxText plus 64 bytes); longer lines are skipped.
const maxLine = 1 << 20

// lineReader reads the lines of a file that may still grow.
type lineReader struct {
	f    *os.File
	buf  []byte
	r, w int   // buf[r:w] is read from f and not returned yet
	scan int   // buf[r:scan] has no newline
	off  int64 // offset in the file of buf[r]
	skip bool  // dropping a line longer than maxLine
}

// reset makes l read f from offset off, where f is positioned.
func (l *lineReader) reset(f *os.File, off int64) {
	if l.buf == nil {
		l.buf = make([]byte, 64<<10)
	}
	*l = lineReader{f: f, buf: l.buf, off: off}
}

// pos returns the offset in the file up to which l has read it.
func (l *lineReader) pos() int64 {
	return l.off + int64(l.w-l.r)
}

// next returns the next line of the file without its newline, and its
// offset. It returns a nil line when there is no whole line more in the
// file (yet). The line is valid until the next call.
func (l *lineReader) next() (line []byte, off int64, err error) {
	for {
		if i := bytes.IndexByte(l.buf[l.scan:l.w], '\n'); i >= 0 {
			end := l.scan + i
			line, off = l.buf[l.r:end], l.off
			l.off += int64(end + 1 - l.r)
			l.r, l.scan = end+1, end+1
			if l.skip || len(line) > maxLine {
				l.skip = false
				continue
			}
			return line, off, nil
		}
		l.scan = l.w
		if l.w-l.r > maxLine {
			l.off += int64(l.w - l.r)
			l.r, l.scan, l.skip = l.w, l.w, true
		}
		n, err := l.fill()
		if n == 0 || err != nil {
			return nil, 0, err
		}
	}
}

// fill reads more of the file into buf.
func (l *lineReader) fill() (int, error) {
	if l.r > 0 {
		copy(l.buf, l.buf[l.r:l.w])
		l.w -= l.r
		l.scan -= l.r
		l.r = 0
	}
	if l.w == len(l.buf) {
		l.buf = append(l.buf, make([]byte, len(l.buf))...)
	}
	n, err := l.f.Read(l.buf[l.w:])
	l.w += n
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// scanBack calls fn with the lines of f[0:end] and their offsets, from
// the last to the first, until fn returns false. Lines longer than
// maxLine are skipped. The first line is what follows the last newline
// (empty if end follows a newline).
func scanBack(f *os.File, end int64, fn func(off int64, line []byte) bool) error {
	const chunk = 64 << 10
	var buf []byte // f[pos:pos+len(buf)], ending where the next line ends
	pos := end
	skip := false
	for {
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 && pos > 0 {
			if len(buf) > maxLine {
				buf, skip = buf[:0], true
			}
			n := min(chunk, pos)
			more := make([]byte, n+int64(len(buf)))
			if _, err := f.ReadAt(more[:n], pos-n); err != nil {
				return err
			}
			copy(more[n:], buf)
			buf, pos = more, pos-n
			continue
		}
		if line := buf[i+1:]; !skip && len(line) <= maxLine && !fn(pos+int64(i)+1, line) {
			return nil
		}
		skip = false
		if i < 0 {
			return nil
		}
		buf = buf[:i]
	}
}
