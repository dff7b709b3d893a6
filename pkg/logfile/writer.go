package logfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// A Writer writes a container's output to a log file, as conmon does.
//
// What a stream (see Stream) receives is split at newlines: each line
// becomes a full (F) entry of its text, without the newline. A last piece
// without a newline is held for the rest of its line, but no longer than
// PartialDelay, and not beyond MaxText bytes, nor past a call of Flush or
// Close: then it is written as a partial (P) entry, and what completes it
// comes in later entries. A line longer than MaxText is written as partial
// entries of MaxText bytes and a full one for the rest.
//
// Entries are buffered and written to the file at the end of each Write,
// so that a reader following the log sees output promptly. All entries
// written by one Write carry the same timestamp.
//
// If writing to the file fails, Write returns the error, and what it had
// not written yet of its data is lost.
//
// A Writer is safe for concurrent use: its two streams may be written from
// different goroutines at once.
type Writer struct {
	mu      sync.Mutex
	path    string
	maxSize int64
	delay   time.Duration // PartialDelay; tests change it
	f       *os.File      // nil once closed
	bw      *bufio.Writer // entries not written yet; nil when none (see buf)
	size    int64         // of the file, with what bw holds
	streams [2]*stream
	ts      []byte // the timestamp of the entries being written
}

// Create opens the log file at path for appending, creating it with mode
// 0600 if it does not exist; its directory must exist. If the file ends in
// an incomplete entry (a crash while writing it), a newline ends it.
//
// maxSize, if positive, caps the size of the file: when writing an entry
// would make it larger, the file is replaced by a new one holding only its
// newest entries (whole entries, at most maxSize/2 bytes of them), and the
// entry is appended there. The file may thus exceed maxSize by at most one
// entry. The new file is written next to the old one and renamed over it;
// a reader following the log notices (see Read). Zero means no cap.
func Create(path string, maxSize int64) (*Writer, error) {
	if maxSize < 0 {
		return nil, fmt.Errorf("create log %s: negative maximum size %d", path, maxSize)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	size, err := endLastEntry(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("create log %s: %w", path, err)
	}
	w := &Writer{
		path:    path,
		maxSize: maxSize,
		delay:   PartialDelay,
		f:       f,
		size:    size,
	}
	for i := range w.streams {
		w.streams[i] = &stream{w: w, index: i}
	}
	return w, nil
}

// endLastEntry returns the size of f, after writing a newline to it if it
// does not end with one.
func endLastEntry(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size == 0 {
		return 0, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		return size, nil
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return 0, err
	}
	return size + 1, nil
}

// Stream returns the writer of the stream called name, Stdout or Stderr.
// For any other name, it returns a writer that fails.
func (w *Writer) Stream(name string) io.Writer {
	if i := streamIndex([]byte(name)); i >= 0 {
		return w.streams[i]
	}
	return badStream(name)
}

// Flush writes the pieces of output held for the rest of their lines as
// partial (P) entries.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("flush log %s: %w", w.path, os.ErrClosed)
	}
	return w.flushAll()
}

// Close flushes the writer (see Flush) and closes the file. Closing a
// closed Writer does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.flushAll()
	for _, s := range w.streams {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close log: %w", cerr)
	}
	w.f = nil
	return err
}

// flushAll writes the held pieces of both streams and the buffer.
func (w *Writer) flushAll() error {
	w.stamp()
	var err error
	for _, s := range w.streams {
		err = errors.Join(err, s.flushHeld())
	}
	return errors.Join(err, w.flush())
}

// buffers are the entry buffers of all Writers: a Writer holds one only
// from its first entry to the flush that writes it out, so that the logs
// of many containers that print nothing most of the time (as a supervisor
// monitors them) hold no buffer each.
var buffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// buf returns the buffer of the entries to write, taking one when the
// Writer has none.
func (w *Writer) buf() *bufio.Writer {
	if w.bw == nil {
		w.bw = buffers.Get().(*bufio.Writer)
		w.bw.Reset(w.f)
	}
	return w.bw
}

// flush writes the buffered entries to the file and gives the buffer
// back. A buffer that failed to write is kept, with its error, which
// the next flush reports again.
func (w *Writer) flush() error {
	if w.bw == nil {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("write log %s: %w", w.path, err)
	}
	w.bw.Reset(nil)
	buffers.Put(w.bw)
	w.bw = nil
	return nil
}

// stamp sets the timestamp of the entries to write to now.
func (w *Writer) stamp() {
	w.ts = time.Now().AppendFormat(w.ts[:0], TimeFormat)
}

// put writes an entry of stream i, whose text is a followed by b.
func (w *Writer) put(i int, full bool, a, b []byte) error {
	name := streamNames[i]
	n := int64(len(w.ts) + len(name) + len(a) + len(b) + 5)
	if w.maxSize > 0 && w.size+n > w.maxSize && w.size > w.maxSize/2 {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	tag := byte('P')
	if full {
		tag = 'F'
	}
	// bufio.Writer keeps the first error: the last write reports it.
	bw := w.buf()
	_, _ = bw.Write(w.ts)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(name)
	_ = bw.WriteByte(' ')
	_ = bw.WriteByte(tag)
	_ = bw.WriteByte(' ')
	_, _ = bw.Write(a)
	_, _ = bw.Write(b)
	if err := bw.WriteByte('\n'); err != nil {
		return fmt.Errorf("write log %s: %w", w.path, err)
	}
	w.size += n
	return nil
}

// putLine writes a line of stream i, whose text is a followed by b, as
// partial entries of MaxText bytes and a full one. a is shorter than
// MaxText.
func (w *Writer) putLine(i int, a, b []byte) error {
	for len(a)+len(b) > MaxText {
		k := max(MaxText-len(a), 0)
		if err := w.put(i, false, a, b[:k]); err != nil {
			return err
		}
		a, b = nil, b[k:]
	}
	return w.put(i, true, a, b)
}

// badStream is the writer of a stream name that is neither Stdout nor
// Stderr.
type badStream string

// Write fails.
func (s badStream) Write([]byte) (int, error) {
	return 0, fmt.Errorf("write log: no stream %q (only %s and %s)", string(s), Stdout, Stderr)
}
