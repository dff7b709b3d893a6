package logfile

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTail reads the last lines of logs where the streams' partial lines
// interleave.
func TestTail(t *testing.T) {
	for _, c := range []struct {
		name    string
		entries []string
		want    []string // by Tail from 0
	}{
		{"full lines", []string{
			at(0, Stdout, "F", "a"), at(1, Stderr, "F", "b"), at(2, Stdout, "F", "c"),
		}, []string{"", "c\n", "b\nc\n", "a\nb\nc\n", "a\nb\nc\n"}},
		{"line around another", []string{
			at(0, Stdout, "P", "a1"), at(1, Stderr, "F", "b"), at(2, Stdout, "F", "a2"),
		}, []string{"", "a1a2\n", "b\na1a2\n", "b\na1a2\n"}},
		{"crossed lines", []string{
			at(0, Stderr, "P", "b1"), at(1, Stdout, "P", "a1"), at(2, Stderr, "F", "b2"), at(3, Stdout, "F", "a2"),
		}, []string{"", "a1a2\n", "b1b2\na1a2\n", "b1b2\na1a2\n"}},
		{"partial at the end", []string{
			at(0, Stdout, "F", "a"), at(1, Stdout, "P", "b1"), at(2, Stdout, "P", "b2"),
		}, []string{"", "b1b2", "a\nb1b2", "a\nb1b2"}},
		{"partial inside", []string{
			at(0, Stdout, "P", "a1"), at(1, Stderr, "P", "x"), at(2, Stdout, "F", "a2"),
		}, []string{"", "a1a2\n", "a1a2\nx", "a1a2\nx"}},
		{"malformed", []string{
			"junk", at(0, Stdout, "F", "a"), "junk", at(1, Stdout, "F", "b"), "junk",
		}, []string{"", "b\n", "a\nb\n", "a\nb\n"}},
		{"empty", nil, []string{"", ""}},
	} {
		path := writeFile(t, c.entries...)
		for n, want := range c.want {
			if got := readBoth(t, path, ReadOptions{Tail: n}); got != want {
				t.Errorf("%s, tail %d: read %q, want %q", c.name, n, got, want)
			}
		}
	}
}

// refLine is a line of a log as Read prints it.
type refLine struct {
	stream  int
	text    string
	newline bool
	pos     int // of its last entry
}

// refRead is a simple reading of a whole log, to check Read against: the
// lines in the order Read prints them.
func refRead(data string) []refLine {
	var lines []refLine
	var open [2]*refLine
	all := strings.Split(data, "\n")
	// What follows the last newline is not an entry yet.
	for pos, l := range all[:len(all)-1] {
		e, ok := parseEntry([]byte(l))
		if !ok {
			continue
		}
		p := open[e.stream]
		if p == nil {
			p = &refLine{stream: e.stream}
			open[e.stream] = p
		}
		p.text += string(e.text)
		p.pos = pos
		if e.full {
			p.newline = true
			lines = append(lines, *p)
			open[e.stream] = nil
		}
	}
	for _, p := range open {
		if p != nil {
			lines = append(lines, *p)
		}
	}
	return lines
}

// refTail returns what Read prints of the last n lines, on both streams
// and on each.
func refTail(lines []refLine, n int) (both string, each [2]string) {
	// The last n lines by the place of their last entry.
	cut := -1
	if n >= 0 && n < len(lines) {
		pos := make([]int, len(lines))
		for i, l := range lines {
			pos[i] = l.pos
		}
		slicesSortDesc(pos)
		cut = -2
		if n > 0 {
			cut = pos[n-1]
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if cut == -2 || l.pos < cut {
			continue
		}
		s := l.text
		if l.newline {
			s += "\n"
		}
		b.WriteString(s)
		each[l.stream] += s
	}
	return b.String(), each
}

// slicesSortDesc sorts s in decreasing order.
func slicesSortDesc(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] > s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestTailRandom compares Read with refRead on random logs, for every
// Tail, with and without Follow.
func TestTailRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for round := range 200 {
		var b strings.Builder
		n := rnd.IntN(25)
		for i := range n {
			tag := "F"
			if rnd.IntN(5) < 2 {
				tag = "P"
			}
			text := strings.Repeat(string(rune('a'+i%26)), rnd.IntN(4))
			switch rnd.IntN(12) {
			case 0:
				b.WriteString("junk\n")
			case 1:
				b.WriteString("\n")
			}
			b.WriteString(at(i, streamNames[rnd.IntN(2)], tag, text) + "\n")
		}
		data := b.String()
		if rnd.IntN(4) == 0 {
			data = strings.TrimSuffix(data, "\n")
		}
		path := filepath.Join(dir, "log")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		lines := refRead(data)
		for tail := -1; tail <= len(lines)+1; tail++ {
			wantBoth, want := refTail(lines, tail)
			for _, follow := range []bool{false, true} {
				if follow && round%8 != 0 {
					continue
				}
				opts := ReadOptions{Tail: tail, Follow: follow, Done: func() bool { return true }}
				out, errOut := readLog(t, path, opts)
				both := readBoth(t, path, opts)
				if out != want[0] || errOut != want[1] || both != wantBoth {
					t.Fatalf("log:\n%s\ntail %d, follow %v: read %q (%q, %q), want %q (%q, %q)",
						data, tail, follow, both, out, errOut, wantBoth, want[0], want[1])
				}
			}
		}
	}
}
