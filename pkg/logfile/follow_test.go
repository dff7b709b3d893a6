package logfile

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// follow starts reading the log at path, following it until done is set,
// printing both streams to out. The error of Read comes on the channel.
func follow(path string, opts ReadOptions, done *atomic.Bool, out *syncBuffer) <-chan error {
	opts.Follow, opts.Done = true, done.Load
	errc := make(chan error, 1)
	go func() { errc <- Read(context.Background(), path, opts, out, out) }()
	return errc
}

// wait waits for Read to end, failing after a generous time.
func wait(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not end")
	}
}

func TestFollow(t *testing.T) {
	w, path := newWriter(t, 0, true)
	write(t, w, Stdout, "before\n")
	var done atomic.Bool
	var out syncBuffer
	errc := follow(path, ReadOptions{Tail: -1}, &done, &out)
	waitFor(t, "the first line", func() bool { return out.String() == "before\n" })
	write(t, w, Stdout, "after 1\n")
	write(t, w, Stderr, "after 2\n")
	write(t, w, Stdout, "part")
	waitFor(t, "the new lines", func() bool { return out.String() == "before\nafter 1\nafter 2\n" })
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	write(t, w, Stdout, "ial\nlast")
	closeWriter(t, w)
	done.Store(true)
	wait(t, errc)
	if got, want := out.String(), "before\nafter 1\nafter 2\npartial\nlast"; got != want {
		t.Errorf("read %q, want %q", got, want)
	}
}

// TestFollowTail follows a log from its last line.
func TestFollowTail(t *testing.T) {
	w, path := newWriter(t, 0, true)
	write(t, w, Stdout, "1\n2\n3\n")
	var done atomic.Bool
	var out syncBuffer
	errc := follow(path, ReadOptions{Tail: 1, Timestamps: true}, &done, &out)
	waitFor(t, "the last line", func() bool { return len(out.String()) == len(TimeFormat)+3 })
	write(t, w, Stderr, "4\n")
	closeWriter(t, w)
	done.Store(true)
	wait(t, errc)
	got := out.String()
	if len(got) != 2*(len(TimeFormat)+3) || got[len(TimeFormat):len(TimeFormat)+3] != " 3\n" || got[len(got)-3:] != " 4\n" {
		t.Errorf("read %q", got)
	}
}

func TestFollowCancel(t *testing.T) {
	_, path := newWriter(t, 0, true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Read(ctx, path, ReadOptions{Tail: -1, Follow: true}, nil, nil) }()
	time.Sleep(2 * PollInterval)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not end")
	}
}

// TestFollowUntil ends following when Until has passed.
func TestFollowUntil(t *testing.T) {
	w, path := newWriter(t, 0, true)
	write(t, w, Stdout, "a\n")
	var out syncBuffer
	opts := ReadOptions{Tail: -1, Follow: true, Until: time.Now().Add(3 * PollInterval)}
	if err := Read(context.Background(), path, opts, &out, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "a\n" {
		t.Errorf("read %q", got)
	}
}

// TestFollowTruncated reads a log again from its start when it was
// truncated.
func TestFollowTruncated(t *testing.T) {
	path := writeFile(t, at(0, Stdout, "F", "old 1"), at(1, Stdout, "F", "old 2"))
	var done atomic.Bool
	var out syncBuffer
	errc := follow(path, ReadOptions{Tail: -1}, &done, &out)
	waitFor(t, "the old lines", func() bool { return out.String() == "old 1\nold 2\n" })
	if err := os.WriteFile(path, []byte(at(2, Stdout, "F", "new")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new line", func() bool { return out.String() == "old 1\nold 2\nnew\n" })
	done.Store(true)
	wait(t, errc)
}

// TestFollowRemoved goes on with the open file when the log is removed.
func TestFollowRemoved(t *testing.T) {
	w, path := newWriter(t, 0, true)
	write(t, w, Stdout, "a\n")
	var done atomic.Bool
	var out syncBuffer
	errc := follow(path, ReadOptions{Tail: -1}, &done, &out)
	waitFor(t, "the first line", func() bool { return out.String() == "a\n" })
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	write(t, w, Stdout, "b\n")
	closeWriter(t, w)
	waitFor(t, "the second line", func() bool { return out.String() == "a\nb\n" })
	done.Store(true)
	wait(t, errc)
}
