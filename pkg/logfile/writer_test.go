package logfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteEntries(t *testing.T) {
	w, path := newWriter(t, 0, true)
	write(t, w, Stdout, "a\nbb\n\nccc")
	write(t, w, Stderr, "err\n")
	closeWriter(t, w)
	want := []rawEntry{
		{Stdout, "F", "a"},
		{Stdout, "F", "bb"},
		{Stdout, "F", ""},
		{Stderr, "F", "err"},
		{Stdout, "P", "ccc"},
	}
	if got := entriesOf(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	if out, errOut := readLog(t, path, all); out != "a\nbb\n\nccc" || errOut != "err\n" {
		t.Errorf("read %q, %q", out, errOut)
	}
}

// TestChunkSplits writes a sample in three writes split at every pair of
// offsets: the entries must not depend on the splits.
func TestChunkSplits(t *testing.T) {
	sample := "one\ntwo two\n\nthree\n\nfour"
	want := []rawEntry{
		{Stdout, "F", "one"},
		{Stdout, "F", "two two"},
		{Stdout, "F", ""},
		{Stdout, "F", "three"},
		{Stdout, "F", ""},
		{Stdout, "P", "four"},
	}
	dir := t.TempDir()
	for i := 0; i <= len(sample); i++ {
		for j := i; j <= len(sample); j++ {
			path := filepath.Join(dir, "log")
			_ = os.Remove(path)
			w, err := Create(path, 0)
			if err != nil {
				t.Fatal(err)
			}
			w.delay = 1 << 62
			for _, chunk := range []string{sample[:i], sample[i:j], sample[j:]} {
				write(t, w, Stdout, chunk)
			}
			closeWriter(t, w)
			if got := entriesOf(t, path); !reflect.DeepEqual(got, want) {
				t.Fatalf("split at %d, %d: entries %q, want %q", i, j, got, want)
			}
			if got := readBoth(t, path, all); got != sample {
				t.Fatalf("split at %d, %d: read %q", i, j, got)
			}
		}
	}
}

func TestLongLines(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 3<<16+8)[:3<<20+100] // 3 MiB and a bit
	for _, c := range []struct {
		name  string
		chunk int
	}{{"one write", len(long) + 1}, {"small writes", 1000}, {"odd writes", 16*1024 - 1}} {
		t.Run(c.name, func(t *testing.T) {
			w, path := newWriter(t, 0, true)
			data := long + "\nshort\n" + long[:MaxText] + "\n"
			for p := data; p != ""; {
				n := min(c.chunk, len(p))
				write(t, w, Stdout, p[:n])
				p = p[n:]
			}
			closeWriter(t, w)
			var line strings.Builder
			var lines []string
			for _, e := range entriesOf(t, path) {
				if len(e.text) > MaxText {
					t.Fatalf("entry of %d bytes", len(e.text))
				}
				line.WriteString(e.text)
				if e.tag == "F" {
					lines = append(lines, line.String())
					line.Reset()
				}
			}
			if len(lines) != 3 || lines[0] != long || lines[1] != "short" || lines[2] != long[:MaxText] || line.Len() != 0 {
				t.Fatalf("lines of %d entries wrong", len(lines))
			}
			if got := readBoth(t, path, all); got != data {
				t.Fatalf("read %d bytes, want %d", len(got), len(data))
			}
		})
	}
}

// TestLongLineEntries checks how a long line written at once is cut.
func TestLongLineEntries(t *testing.T) {
	w, path := newWriter(t, 0, true)
	write(t, w, Stderr, strings.Repeat("x", 2*MaxText+5)+"\n")
	closeWriter(t, w)
	var got []string
	for _, e := range entriesOf(t, path) {
		got = append(got, e.tag+" "+string(rune('0'+len(e.text)/MaxText)))
	}
	if want := []string{"P 1", "P 1", "F 0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
}

// TestPartialTimer checks that a piece without its newline is written as
// a partial entry after a while, and the rest later.
func TestPartialTimer(t *testing.T) {
	w, path := newWriter(t, 0, false)
	w.delay = 10 * PartialDelay / 100
	write(t, w, Stdout, "abc")
	waitFor(t, "the partial entry", func() bool { return len(entriesOf(t, path)) == 1 })
	write(t, w, Stdout, "def\nghi")
	waitFor(t, "the second partial entry", func() bool { return len(entriesOf(t, path)) == 3 })
	write(t, w, Stdout, "\n")
	closeWriter(t, w)
	want := []rawEntry{{Stdout, "P", "abc"}, {Stdout, "F", "def"}, {Stdout, "P", "ghi"}, {Stdout, "F", ""}}
	if got := entriesOf(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	if got := readBoth(t, path, all); got != "abcdef\nghi\n" {
		t.Errorf("read %q", got)
	}
}

func TestFlush(t *testing.T) {
	w, path := newWriter(t, 0, true)
	write(t, w, Stdout, "abc")
	write(t, w, Stderr, "de")
	if got := entriesOf(t, path); len(got) != 0 {
		t.Fatalf("entries before Flush: %q", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []rawEntry{{Stdout, "P", "abc"}, {Stderr, "P", "de"}}
	if got := entriesOf(t, path); !reflect.DeepEqual(got, want) {
		t.Fatalf("entries %q, want %q", got, want)
	}
	// A partial line at the end is printed as it is.
	if out, errOut := readLog(t, path, all); out != "abc" || errOut != "de" {
		t.Errorf("read %q, %q", out, errOut)
	}
	write(t, w, Stdout, "\n")
	write(t, w, Stderr, "f\n")
	closeWriter(t, w)
	if out, errOut := readLog(t, path, all); out != "abc\n" || errOut != "def\n" {
		t.Errorf("read %q, %q", out, errOut)
	}
}

func TestClosed(t *testing.T) {
	w, _ := newWriter(t, 0, true)
	closeWriter(t, w)
	if _, err := w.Stream(Stdout).Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("flush after close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestBadStream(t *testing.T) {
	w, _ := newWriter(t, 0, true)
	if _, err := w.Stream("stdin").Write([]byte("x\n")); err == nil || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("write to stdin: %v", err)
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(filepath.Join(dir, "missing", "log"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("create in a missing directory: %v", err)
	}
	if _, err := Create(filepath.Join(dir, "log"), -1); err == nil {
		t.Error("create with a negative size: no error")
	}
}

// TestAppend checks that Create appends to a log, ending an incomplete
// last entry first.
func TestAppend(t *testing.T) {
	path := writeFile(t, at(0, Stdout, "F", "old"))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(at(1, Stdout, "F", "torn")[:20]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one\n", "two\n"} {
		w, err := Create(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		write(t, w, Stdout, s)
		closeWriter(t, w)
	}
	if got := readBoth(t, path, all); got != "old\none\ntwo\n" {
		t.Errorf("read %q", got)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("\n")); n != 4 {
		t.Errorf("%d lines, want 4", n)
	}
}

// TestBufferGivenBack checks that a Writer holds an entry buffer only
// while it writes: an idle log holds none.
func TestBufferGivenBack(t *testing.T) {
	w, path := newWriter(t, 0, true)
	write(t, w, Stdout, "a\nb\n")
	if w.bw != nil {
		t.Error("the Writer holds a buffer after its Write")
	}
	write(t, w, Stderr, "c\n")
	closeWriter(t, w)
	want := []rawEntry{{Stdout, "F", "a"}, {Stdout, "F", "b"}, {Stderr, "F", "c"}}
	if got := entriesOf(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
}
