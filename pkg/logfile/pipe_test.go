package logfile

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
)

// testLine is the line i of the output of a test program: lines of
// varied lengths, with their number.
func testLine(prefix string, i int) string {
	return fmt.Sprintf("%s %06d %s", prefix, i, strings.Repeat("x", i%61))
}

// TestPipe writes 100,000 lines through a pipe, as fast as they come, the
// way a container's output reaches the log: the reads of the pipe cut
// lines anywhere. Read must return exactly the lines.
func TestPipe(t *testing.T) {
	const lines = 100000
	w, path := newWriter(t, 0, false)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range lines {
		want.WriteString(testLine("line", i))
		want.WriteByte('\n')
	}
	go func() {
		// Writes of odd sizes, so that the pipe holds pieces of lines.
		bw := bufio.NewWriterSize(pw, 3001)
		_, _ = io.WriteString(bw, want.String())
		_ = bw.Flush()
		_ = pw.Close()
	}()
	buf := make([]byte, 64<<10)
	stream := w.Stream(Stdout)
	for {
		n, err := pr.Read(buf)
		if n > 0 {
			if _, err := stream.Write(buf[:n]); err != nil {
				t.Fatal(err)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = pr.Close()
	closeWriter(t, w)
	got, errOut := readLog(t, path, all)
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}
	if got != want.String() {
		g, w := strings.Split(got, "\n"), strings.Split(want.String(), "\n")
		for i := range min(len(g), len(w)) {
			if g[i] != w[i] {
				t.Fatalf("line %d is %q, want %q (%d lines, want %d)", i, g[i], w[i], len(g), len(w))
			}
		}
		t.Fatalf("%d lines, want %d", len(g), len(w))
	}
}

// TestConcurrentStreams writes both streams from two goroutines at once,
// in chunks of random sizes.
func TestConcurrentStreams(t *testing.T) {
	const lines = 20000
	w, path := newWriter(t, 0, false)
	var want [2]string
	var wg sync.WaitGroup
	for s, name := range streamNames {
		var b strings.Builder
		for i := range lines {
			b.WriteString(testLine(name, i) + "\n")
		}
		want[s] = b.String()
		wg.Add(1)
		go func(stream io.Writer, data string, seed uint64) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, 1))
			for data != "" {
				n := min(1+rnd.IntN(300), len(data))
				if _, err := io.WriteString(stream, data[:n]); err != nil {
					t.Error(err)
					return
				}
				data = data[n:]
			}
		}(w.Stream(name), want[s], uint64(s))
	}
	wg.Wait()
	closeWriter(t, w)
	out, errOut := readLog(t, path, all)
	if out != want[0] || errOut != want[1] {
		t.Fatalf("read %d and %d bytes, want %d and %d", len(out), len(errOut), len(want[0]), len(want[1]))
	}
	// Printed together, the lines are whole.
	n := 0
	for line := range strings.Lines(readBoth(t, path, all)) {
		var name string
		var i int
		if _, err := fmt.Sscanf(line, "%s %d", &name, &i); err != nil || line != testLine(name, i)+"\n" {
			t.Fatalf("bad line %q", line)
		}
		n++
	}
	if n != 2*lines {
		t.Errorf("%d lines, want %d", n, 2*lines)
	}
}
