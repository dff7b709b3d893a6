package logfile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// appendFile appends s to the file at path.
func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func TestReadMissing(t *testing.T) {
	err := Read(context.Background(), filepath.Join(t.TempDir(), "none"), all, nil, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read a missing log: %v", err)
	}
}

// TestReadFormats reads entries as conmon and others write them, and
// lines that are not entries.
func TestReadFormats(t *testing.T) {
	path := writeFile(t,
		"2026-12-05T14:30:01.123456789+01:00 stdout F conmon",
		"2026-12-05T14:30:01.5Z stdout F utc, short",
		"2026-12-05T14:30:02Z stderr F no fraction",
		"2026-12-05T14:30:02Z stdout F",
		"2026-12-05T14:30:02Z stdout F  two spaces ",
		"2026-12-05T14:30:02Z stdout P part",
		"2026-12-05T14:30:02Z stdout F ial",
		"",
		"garbage",
		"2026-12-05 14:30:02 stdout F bad time",
		"2026-12-05T14:30:02Z stdin F bad stream",
		"2026-12-05T14:30:02Z stdout X bad tag",
		"2026-12-05T14:30:02Z stdout",
		"2026-12-05T14:30:02Z stdout FF bad tag",
		"2026-12-05T14:30:03-07:00 stderr F last",
	)
	out, errOut := readLog(t, path, all)
	if want := "conmon\nutc, short\n\n two spaces \npartial\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if want := "no fraction\nlast\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

// TestReadTornEnd reads a log whose last entry has no newline yet: it is
// left for later.
func TestReadTornEnd(t *testing.T) {
	path := writeFile(t, at(0, Stdout, "F", "a"))
	if err := appendFile(path, at(1, Stdout, "F", "b")); err != nil {
		t.Fatal(err)
	}
	if got := readBoth(t, path, all); got != "a\n" {
		t.Errorf("read %q", got)
	}
	if got := readBoth(t, path, ReadOptions{Tail: 1}); got != "a\n" {
		t.Errorf("tail 1: read %q", got)
	}
	// A reader following the log prints it when it is complete.
	var done atomic.Bool
	var out syncBuffer
	errc := follow(path, ReadOptions{Tail: 1}, &done, &out)
	waitFor(t, "the first line", func() bool { return out.String() == "a\n" })
	if err := appendFile(path, "\n"+at(2, Stderr, "F", "c")+"\n"); err != nil {
		t.Fatal(err)
	}
	done.Store(true)
	wait(t, errc)
	if got := out.String(); got != "a\nb\nc\n" {
		t.Errorf("followed %q", got)
	}
}

func TestTimestamps(t *testing.T) {
	path := writeFile(t,
		"2026-12-05T14:30:01.123456789+01:00 stdout F one",
		"2026-12-05T14:30:01.5Z stderr P tw",
		"2026-12-05T14:30:09Z stderr F o",
		"2026-12-05T14:30:02-07:00 stdout P three",
	)
	want := "2026-12-05T14:30:01.123456789+01:00 one\n" +
		"2026-12-05T14:30:01.500000000+00:00 two\n" +
		"2026-12-05T14:30:02.000000000-07:00 three"
	if got := readBoth(t, path, ReadOptions{Tail: -1, Timestamps: true}); got != want {
		t.Errorf("read %q, want %q", got, want)
	}
}

func TestSinceUntil(t *testing.T) {
	var lines []string
	for i := range 10 {
		lines = append(lines, at(i, Stdout, "F", string(rune('0'+i))))
	}
	// A line is as old as its first entry.
	lines = append(lines, at(3, Stderr, "P", "e"), at(9, Stderr, "F", "rr"))
	path := writeFile(t, lines...)
	sec := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	for _, c := range []struct {
		since, until time.Time
		tail         int
		out, err     string
	}{
		{time.Time{}, time.Time{}, -1, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n", "err\n"},
		{sec(3), time.Time{}, -1, "3\n4\n5\n6\n7\n8\n9\n", "err\n"},
		{sec(4), time.Time{}, -1, "4\n5\n6\n7\n8\n9\n", ""},
		{time.Time{}, sec(3), -1, "0\n1\n2\n", ""},
		{sec(3), sec(5), -1, "3\n4\n", "err\n"},
		{sec(3).Add(-time.Nanosecond).In(time.FixedZone("", 3600)), sec(4), -1, "3\n", "err\n"},
		{sec(8), sec(5), -1, "", ""},
		{sec(3), time.Time{}, 2, "9\n", "err\n"},
		{time.Time{}, sec(9), 3, "8\n", "err\n"},
	} {
		out, errOut := readLog(t, path, ReadOptions{Since: c.since, Until: c.until, Tail: c.tail})
		if out != c.out || errOut != c.err {
			t.Errorf("since %v until %v tail %d: read %q, %q, want %q, %q", c.since, c.until, c.tail, out, errOut, c.out, c.err)
		}
	}
}

// TestReadNoOutput reads into nil writers.
func TestReadNoOutput(t *testing.T) {
	path := writeFile(t, at(0, Stdout, "F", "a"), at(0, Stderr, "F", "b"))
	if err := Read(context.Background(), path, all, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestReadLongEntry skips an entry longer than a Writer's can be.
func TestReadLongEntry(t *testing.T) {
	long := strings.Repeat("y", maxLine+1000)
	path := writeFile(t, at(0, Stdout, "F", "a"), at(1, Stdout, "F", long), at(2, Stdout, "F", "b"))
	for _, tail := range []int{-1, 2, 1} {
		want := "a\nb\n"
		if tail == 1 {
			want = "b\n"
		}
		if got := readBoth(t, path, ReadOptions{Tail: tail}); got != want {
			t.Errorf("tail %d: read %.100q, want %q", tail, got, want)
		}
	}
}

// FuzzRead reads arbitrary files: no panic, no error.
func FuzzRead(f *testing.F) {
	f.Add([]byte(at(0, Stdout, "P", "a")+"\n"+at(1, Stderr, "F", "b")+"\n"+at(2, Stdout, "F", "c")+"\n"), 1)
	f.Add([]byte("2026-12-05T14:30:02Z stdout F x\n\n\nstdout P \n"), 2)
	f.Add([]byte("2026-12-05T14:30:02Z stderr P"), 0)
	f.Fuzz(func(t *testing.T, data []byte, tail int) {
		path := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, opts := range []ReadOptions{{Tail: -1}, {Tail: tail % 8, Timestamps: true}} {
			if err := Read(context.Background(), path, opts, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
