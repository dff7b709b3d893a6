package pollbuf

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"
)

// pools are the constructors of pools: both read os.Pipe's descriptors,
// which Go's poller watches.
var pools = map[string]func(int) *Pool{"New": New, "NewRaw": NewRaw}

func TestCopyPipe(t *testing.T) {
	for name, newPool := range pools {
		t.Run(name, func(t *testing.T) { testCopyPipe(t, newPool(16)) })
	}
}

func testCopyPipe(t *testing.T, p *Pool) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := p.Copy(&out, r)
		done <- err
	}()
	want := bytes.Repeat([]byte("0123456789"), 1000)
	// Written in pieces with pauses, so that Copy waits in between.
	for i := 0; i < len(want); i += 2500 {
		if _, err := w.Write(want[i : i+2500]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("copied %d bytes, not the %d written", out.Len(), len(want))
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestCopyWriteError(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := New(8).Copy(failWriter{}, r); err != io.ErrClosedPipe {
		t.Fatalf("Copy returned %v, not the writer's error", err)
	}
}

func TestReadClosed(t *testing.T) {
	for name, newPool := range pools {
		t.Run(name, func(t *testing.T) { testReadClosed(t, newPool(8)) })
	}
}

func testReadClosed(t *testing.T, p *Pool) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		b, _, err := p.Read(c)
		if b != nil {
			t.Error("a buffer with the error of a closed descriptor")
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	r.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Read of a closed file returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return when its file was closed")
	}
}
