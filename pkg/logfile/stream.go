package logfile

import (
	"bytes"
	"fmt"
	"os"
	"time"
)

// stream is the writer of one of a Writer's streams.
type stream struct {
	w      *Writer
	index  int         // in streamNames
	held   []byte      // output without its newline yet, shorter than MaxText
	heldAt time.Time   // when held began to fill; zero while it is empty
	timer  *time.Timer // writes held when it is old enough
}

// Write writes p to the log (see Writer) and flushes the entries.
func (s *stream) Write(p []byte) (int, error) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, fmt.Errorf("write log %s: %w", w.path, os.ErrClosed)
	}
	w.stamp()
	if err := s.write(p); err != nil {
		return 0, err
	}
	if err := w.flush(); err != nil {
		return 0, err
	}
	s.arm()
	return len(p), nil
}

// write splits p in lines and writes them, holding a last piece without
// a newline.
func (s *stream) write(p []byte) error {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return s.hold(p)
		}
		if err := s.w.putLine(s.index, s.held, p[:i]); err != nil {
			return err
		}
		s.clear()
		p = p[i+1:]
	}
	return nil
}

// hold adds p, which has no newline, to the held piece, writing it as
// partial entries of MaxText bytes while it is that long.
func (s *stream) hold(p []byte) error {
	if len(s.held)+len(p) < MaxText {
		s.held = append(s.held, p...)
		return nil
	}
	k := MaxText - len(s.held)
	if err := s.w.put(s.index, false, s.held, p[:k]); err != nil {
		return err
	}
	s.clear()
	for p = p[k:]; len(p) >= MaxText; p = p[MaxText:] {
		if err := s.w.put(s.index, false, p[:MaxText], nil); err != nil {
			return err
		}
	}
	s.held = append(s.held, p...)
	return nil
}

// clear empties the held piece, once written.
func (s *stream) clear() {
	s.held = s.held[:0]
	s.heldAt = time.Time{}
}

// flushHeld writes the held piece as a partial entry.
func (s *stream) flushHeld() error {
	if len(s.held) == 0 {
		return nil
	}
	if err := s.w.put(s.index, false, s.held, nil); err != nil {
		return err
	}
	s.clear()
	return nil
}

// arm starts the timer when a piece begins to be held.
func (s *stream) arm() {
	if len(s.held) == 0 || !s.heldAt.IsZero() {
		return
	}
	s.heldAt = time.Now()
	if s.timer == nil {
		s.timer = time.AfterFunc(s.w.delay, s.expire)
	} else {
		s.timer.Reset(s.w.delay)
	}
}

// expire writes the held piece once it has been held long enough. An
// error writing it is reported by the next Write, Flush or Close.
func (s *stream) expire() {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil || len(s.held) == 0 {
		return
	}
	if d := w.delay - time.Since(s.heldAt); d > 0 {
		s.timer.Reset(d)
		return
	}
	w.stamp()
	if s.flushHeld() != nil {
		// Not written: the next Write or Flush tries again.
		return
	}
	_ = w.flush() // an error stays in bw
}
