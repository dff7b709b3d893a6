package logfile

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// output prints lines to the writers of the two streams, buffered, and in
// the order they come even when both writers are the same.
type output struct {
	w      [2]*bufio.Writer
	last   int // the stream written last
	stamps bool
	ts     []byte
}

// init sets the writers of the streams (nil: discard) and whether lines
// have a timestamp.
func (o *output) init(stdout, stderr io.Writer, stamps bool) {
	for i, w := range []io.Writer{stdout, stderr} {
		if w == nil {
			w = io.Discard
		}
		o.w[i] = bufio.NewWriterSize(w, 32<<10)
	}
	o.stamps = stamps
}

// line prints a line of stream s written at ts.
func (o *output) line(s int, ts time.Time, text []byte, newline bool) error {
	if s != o.last {
		if err := o.flushStream(o.last); err != nil {
			return err
		}
		o.last = s
	}
	w := o.w[s]
	if o.stamps {
		o.ts = ts.AppendFormat(o.ts[:0], TimeFormat)
		o.ts = append(o.ts, ' ')
		_, _ = w.Write(o.ts) // bufio.Writer keeps the first error
	}
	_, err := w.Write(text)
	if newline && err == nil {
		err = w.WriteByte('\n')
	}
	if err != nil {
		return fmt.Errorf("print log: %s: %w", streamNames[s], err)
	}
	return nil
}

// flush writes what is buffered.
func (o *output) flush() error {
	return o.flushStream(o.last)
}

// flushStream writes what is buffered for stream s.
func (o *output) flushStream(s int) error {
	if err := o.w[s].Flush(); err != nil {
		return fmt.Errorf("print log: %s: %w", streamNames[s], err)
	}
	return nil
}
