package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// numbered returns the line "line <i>" padded to a fixed width.
func numbered(i int) string {
	return fmt.Sprintf("line %06d", i)
}

// checkNumbered checks that out is made of numbered lines, increasing,
// and returns their numbers.
func checkNumbered(t *testing.T, out string) []int {
	t.Helper()
	var nums []int
	for line := range strings.Lines(out) {
		var i int
		if _, err := fmt.Sscanf(line, "line %d\n", &i); err != nil || line != numbered(i)+"\n" {
			t.Fatalf("bad line %q", line)
		}
		if len(nums) > 0 && i <= nums[len(nums)-1] {
			t.Fatalf("line %d after %d", i, nums[len(nums)-1])
		}
		nums = append(nums, i)
	}
	return nums
}

// TestRotate checks that a capped log stays within its size and keeps the
// newest lines.
func TestRotate(t *testing.T) {
	const maxSize = 4096
	w, path := newWriter(t, maxSize, true)
	for i := range 1000 {
		write(t, w, Stdout, numbered(i)+"\n")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxSize {
			t.Fatalf("log of %d bytes after line %d", fi.Size(), i)
		}
	}
	// A long line: the file may exceed the cap by its entry; the next
	// rotation drops it, being more than half the cap.
	long := strings.Repeat("z", 5000)
	write(t, w, Stderr, long+"\n")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if long := int64(len(at(0, Stderr, "F", long)) + 1); fi.Size() > maxSize+long {
		t.Errorf("log of %d bytes with an entry of %d", fi.Size(), long)
	}
	if out, errOut := readLog(t, path, ReadOptions{Tail: 2}); errOut != long+"\n" || out == "" {
		t.Errorf("long line not kept")
	}
	write(t, w, Stdout, numbered(1000)+"\n")
	closeWriter(t, w)
	if fi, err = os.Stat(path); err != nil || fi.Size() > maxSize {
		t.Errorf("log of %d bytes (%v)", fi.Size(), err)
	}
	out, errOut := readLog(t, path, all)
	nums := checkNumbered(t, out)
	if len(nums) == 0 || nums[len(nums)-1] != 1000 || nums[len(nums)-1]-nums[0] != len(nums)-1 {
		t.Errorf("lines %v, want the last ones", nums)
	}
	if errOut != "" {
		t.Errorf("stderr of %d bytes", len(errOut))
	}
	files, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Errorf("files %v left", files)
	}
}

// TestRotateKeepsHalf checks what a rotation keeps.
func TestRotateKeepsHalf(t *testing.T) {
	const maxSize = 1000
	w, path := newWriter(t, maxSize, true)
	entry := len(at(0, Stdout, "F", numbered(0))) + 1
	n := maxSize / entry
	for i := range n + 1 {
		write(t, w, Stdout, numbered(i)+"\n")
	}
	closeWriter(t, w)
	nums := checkNumbered(t, readBoth(t, path, all))
	// Rotated once at line n: at most half of the file kept, then line n.
	if kept := len(nums) - 1; kept != maxSize/2/entry || nums[len(nums)-1] != n {
		t.Errorf("lines %v after rotation, want %d and %d", nums, maxSize/2/entry, n)
	}
}

// TestFollowRotation follows a log while it is rotated once: no line is
// lost, none repeated.
func TestFollowRotation(t *testing.T) {
	const maxSize = 4096
	w, path := newWriter(t, maxSize, true)
	entry := len(at(0, Stdout, "F", numbered(0))) + 1
	before := (maxSize/2)/entry + 5 // more than half the cap
	var s strings.Builder
	for i := range before {
		s.WriteString(numbered(i) + "\n")
	}
	write(t, w, Stdout, s.String())
	var done atomic.Bool
	var out syncBuffer
	errc := follow(path, ReadOptions{Tail: -1}, &done, &out)
	waitFor(t, "the first lines", func() bool { return strings.Count(out.String(), "\n") == before })
	old, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Enough to rotate once, and not twice (less than half the cap).
	after := before + (maxSize/2)/entry - 1
	s.Reset()
	for i := before; i < after; i++ {
		s.WriteString(numbered(i) + "\n")
	}
	write(t, w, Stdout, s.String())
	if cur, err := os.Stat(path); err != nil || os.SameFile(old, cur) {
		t.Fatalf("not rotated (%v)", err)
	}
	waitFor(t, "the new lines", func() bool { return strings.Count(out.String(), "\n") >= after })
	closeWriter(t, w)
	done.Store(true)
	wait(t, errc)
	nums := checkNumbered(t, out.String())
	if len(nums) != after {
		t.Errorf("%d lines, want %d", len(nums), after)
	}
}

// TestFollowRotations follows a log that is rotated often while it is
// written fast: lines may be lost, but none is repeated or cut, and the
// last one comes.
func TestFollowRotations(t *testing.T) {
	const lines = 20000
	w, path := newWriter(t, 8192, false)
	var done atomic.Bool
	var out syncBuffer
	errc := follow(path, ReadOptions{Tail: -1}, &done, &out)
	for i := 0; i < lines; i += 7 {
		var s strings.Builder
		for j := i; j < min(i+7, lines); j++ {
			s.WriteString(numbered(j) + "\n")
		}
		write(t, w, Stdout, s.String())
	}
	closeWriter(t, w)
	done.Store(true)
	wait(t, errc)
	nums := checkNumbered(t, out.String())
	if len(nums) == 0 || nums[len(nums)-1] != lines-1 {
		t.Fatalf("last line missing")
	}
	t.Logf("%d of %d lines followed", len(nums), lines)
}
