package logfile

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// ReadOptions says which lines of a log Read prints, and how.
type ReadOptions struct {
	// Follow keeps reading the entries added to the log, until Done says
	// so or the context ends.
	Follow bool
	// Tail, if not negative, limits the output to the last Tail lines
	// of the log when Read starts (of both streams together, counted
	// after joining the partial entries; a line counts where its last
	// entry is). Lines added later are printed as they come.
	Tail int
	// Since and Until, if not zero, limit the output to the lines
	// written at or after Since and before Until (the time of a line is
	// that of its first entry). They apply after Tail: Tail 10 with
	// Since prints those of the last 10 lines that are recent enough.
	// With Follow, the read also ends once Until has passed and the log
	// is read to its end.
	Since, Until time.Time
	// Timestamps prefixes each line with its time, in the layout
	// TimeFormat, and a space, as `podman logs -t` does.
	Timestamps bool
	// Done, with Follow, is called each time the whole log is read; when
	// it returns true, Read reads what was added meanwhile and returns.
	// If it is nil, Read follows the log until the context ends.
	Done func() bool
}

// Read prints the lines of the log file at path, as the program wrote
// them: each entry's text goes to stdout or stderr (nil: discarded) by its
// stream, partial entries joined with the rest of their line, each line
// followed by a newline, except a line still partial at the end of the log
// (the output of `printf abc`), which is printed as it is. Lines of the
// file that are not entries are skipped, and so is a last line without its
// newline, an entry being written.
//
// With opts.Follow, Read then waits for entries to be added, looking every
// PollInterval, until opts.Done returns true or ctx ends (then it returns
// ctx.Err()). It notices when the log is replaced by a Writer capping its
// size and reads on in the new file from the first entry it has not
// printed yet. Lines may be lost at such a rotation: if the log was
// replaced more than once between two looks, the entries of the files in
// between are lost, and the lines they cut are printed in pieces.
//
// A missing file is an error that wraps fs.ErrNotExist.
func Read(ctx context.Context, path string, opts ReadOptions, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	r := &reader{path: path, opts: opts, f: f}
	r.out.init(stdout, stderr, opts.Timestamps)
	err = r.run(ctx)
	if cerr := r.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("read log: %w", cerr)
	}
	return err
}

// reader is the state of a Read.
type reader struct {
	path  string
	opts  ReadOptions
	f     *os.File
	lr    lineReader
	parse parser
	drop  map[int64]bool // offsets of entries ending lines not to print
	lines [2]pending     // by stream
	out   output
}

// pending is a line of which partial entries were read.
type pending struct {
	open bool
	ts   time.Time // of the first entry
	text []byte
}

// run reads the log.
func (r *reader) run(ctx context.Context) error {
	if err := r.start(); err != nil {
		return err
	}
	tick := time.NewTimer(PollInterval)
	defer tick.Stop()
	for final := !r.opts.Follow; ; {
		if err := r.drain(ctx); err != nil {
			return err
		}
		if final {
			return r.finish()
		}
		if err := r.out.flush(); err != nil {
			return err
		}
		if r.opts.Done != nil && r.opts.Done() || r.pastUntil() {
			final = true
			continue
		}
		tick.Reset(PollInterval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// start positions the reader at the first line to print.
func (r *reader) start() error {
	fi, err := r.f.Stat()
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	var start int64
	if r.opts.Tail >= 0 {
		start, r.drop, err = tailStart(r.f, fi.Size(), r.opts.Tail)
		if err != nil {
			return fmt.Errorf("read log %s: %w", r.path, err)
		}
		if _, err := r.f.Seek(start, io.SeekStart); err != nil {
			return fmt.Errorf("read log %s: %w", r.path, err)
		}
	}
	r.lr.reset(r.f, start)
	return nil
}

// pastUntil reports whether the time is past opts.Until.
func (r *reader) pastUntil() bool {
	return !r.opts.Until.IsZero() && time.Now().After(r.opts.Until)
}

// drain reads the log to its end, and, following it, into the file that
// replaced it.
func (r *reader) drain(ctx context.Context) error {
	for {
		if err := r.readLines(ctx); err != nil {
			return err
		}
		if !r.opts.Follow {
			return nil
		}
		switched, err := r.switchFile(ctx)
		if err != nil || !switched {
			return err
		}
	}
}

// readLines reads the whole lines the file has.
func (r *reader) readLines(ctx context.Context) error {
	for n := 1; ; n++ {
		line, off, err := r.lr.next()
		if err != nil {
			return fmt.Errorf("read log %s: %w", r.path, err)
		}
		if line == nil {
			return nil
		}
		if err := r.entry(line, off); err != nil {
			return err
		}
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// finish prints the lines left partial and flushes the output. What
// follows the last newline of the file is not an entry yet: a Writer
// writes an entry and its newline together.
func (r *reader) finish() error {
	if err := r.endLines(false); err != nil {
		return err
	}
	return r.out.flush()
}

// entry handles the line at offset off of the file.
func (r *reader) entry(line []byte, off int64) error {
	e, ok := r.parse.parse(line)
	if !ok {
		return nil
	}
	p := &r.lines[e.stream]
	if r.drop[off] {
		p.reset()
		return nil
	}
	if !p.open {
		if e.full {
			return r.print(e.stream, e.ts, e.text, true)
		}
		p.open, p.ts = true, e.ts
	}
	p.text = append(p.text, e.text...)
	if !e.full {
		return nil
	}
	err := r.print(e.stream, p.ts, p.text, true)
	p.reset()
	return err
}

// endLines prints the lines left partial, with a newline or not.
func (r *reader) endLines(newline bool) error {
	for s := range r.lines {
		p := &r.lines[s]
		if !p.open {
			continue
		}
		err := r.print(s, p.ts, p.text, newline)
		p.reset()
		if err != nil {
			return err
		}
	}
	return nil
}

// print prints a line of stream s written at ts, if the options take it.
func (r *reader) print(s int, ts time.Time, text []byte, newline bool) error {
	if !r.opts.Since.IsZero() && ts.Before(r.opts.Since) ||
		!r.opts.Until.IsZero() && !ts.Before(r.opts.Until) {
		return nil
	}
	return r.out.line(s, ts, text, newline)
}

// reset forgets the line.
func (p *pending) reset() {
	p.open, p.text = false, p.text[:0]
}
