package logfile

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// newWriter creates a Writer of a new log file, which holds partial
// lines until flushed unless hold is false.
func newWriter(t testing.TB, maxSize int64, hold bool) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctr.log")
	w, err := Create(path, maxSize)
	if err != nil {
		t.Fatal(err)
	}
	if hold {
		w.delay = time.Hour
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, path
}

// write writes s to stream name of w.
func write(t testing.TB, w *Writer, name, s string) {
	t.Helper()
	if n, err := w.Stream(name).Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("write %q to %s: %d, %v", s, name, n, err)
	}
}

// closeWriter closes w.
func closeWriter(t testing.TB, w *Writer) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// readLog reads the log at path and returns what it printed to stdout and
// to stderr.
func readLog(t testing.TB, path string, opts ReadOptions) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := Read(context.Background(), path, opts, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

// readBoth reads the log at path, printing both streams to one writer,
// and returns what was printed.
func readBoth(t testing.TB, path string, opts ReadOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := Read(context.Background(), path, opts, &out, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// all are options to read all of a log.
var all = ReadOptions{Tail: -1}

// rawEntry is an entry as a test expects it.
type rawEntry struct {
	stream string
	tag    string
	text   string
}

// entriesOf returns the entries of the log at path, failing on a line
// that does not parse or a timestamp not in TimeFormat.
func entriesOf(t testing.TB, path string) []rawEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var es []rawEntry
	for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" && len(data) == 0 {
			break
		}
		e, ok := parseEntry([]byte(line))
		if !ok {
			t.Fatalf("bad entry %q", line)
		}
		ts, _, _ := strings.Cut(line, " ")
		if _, err := time.Parse(TimeFormat, ts); err != nil || len(ts) != len(TimeFormat) {
			t.Fatalf("timestamp %q not in %s: %v", ts, TimeFormat, err)
		}
		tag := "P"
		if e.full {
			tag = "F"
		}
		es = append(es, rawEntry{streamNames[e.stream], tag, string(e.text)})
	}
	return es
}

// writeFile writes a log file of the given lines, each followed by a
// newline, and returns its path.
func writeFile(t testing.TB, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctr.log")
	data := strings.Join(lines, "\n")
	if len(lines) > 0 {
		data += "\n"
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// base is the time of the entries tests make with at.
var base = time.Date(2026, 12, 5, 14, 30, 1, 0, time.UTC)

// at returns an entry line written i seconds after base.
func at(i int, stream, tag, text string) string {
	return base.Add(time.Duration(i)*time.Second).Format(TimeFormat) + " " + stream + " " + tag + " " + text
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until cond holds, failing after a generous time.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
