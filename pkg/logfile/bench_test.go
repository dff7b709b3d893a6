package logfile

import (
	"context"
	"io"
	"strings"
	"testing"
)

// benchData is output of short lines (50 bytes on average).
func benchData(lines int) string {
	var b strings.Builder
	for i := range lines {
		b.WriteString(testLine("bench", i) + "\n")
	}
	return b.String()
}

// BenchmarkWriteChunks writes output in 64 KiB chunks, which cut lines
// anywhere, as a Writer gets it from a busy container's pipe.
func BenchmarkWriteChunks(b *testing.B) {
	data := benchData(100000)
	w, _ := newWriter(b, 0, false)
	stream := w.Stream(Stdout)
	b.SetBytes(64 << 10)
	b.ResetTimer()
	off, lines := 0, 0
	for range b.N {
		if off+64<<10 > len(data) {
			off = 0
		}
		chunk := data[off : off+64<<10]
		if _, err := io.WriteString(stream, chunk); err != nil {
			b.Fatal(err)
		}
		lines += strings.Count(chunk, "\n")
		off += 64 << 10
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkWriteLines writes output a line at a time, as a program that
// flushes each line: a write to the file for each.
func BenchmarkWriteLines(b *testing.B) {
	line := testLine("bench", 30) + "\n"
	w, _ := newWriter(b, 0, false)
	stream := w.Stream(Stdout)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := io.WriteString(stream, line); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkWriteCapped writes chunks to a log capped at 1 MiB, rotated
// about every 10 chunks.
func BenchmarkWriteCapped(b *testing.B) {
	data := benchData(2000)
	w, _ := newWriter(b, 1<<20, false)
	stream := w.Stream(Stdout)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := io.WriteString(stream, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads a log of 100,000 lines.
func BenchmarkRead(b *testing.B) {
	data := benchData(100000)
	w, path := newWriter(b, 0, false)
	if _, err := io.WriteString(w.Stream(Stdout), data); err != nil {
		b.Fatal(err)
	}
	closeWriter(b, w)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := Read(context.Background(), path, all, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100000*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
