package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns the two ends of a loopback TCP connection, as Conns.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	client, server = TCP(c), TCP(s)
	if _, ok := client.(Conn); !ok {
		t.Fatalf("TCP(%T) = %T, want Conn", c, client)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestConnCopiesAndEnds(t *testing.T) {
	client, server := pair(t)
	want := make([]byte, 8<<20) // more than the socket buffers: Write waits for room
	rand.Read(want)
	errc := make(chan error, 1)
	go func() {
		n, err := client.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		if err == nil {
			err = client.(Conn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(server) // ReadAll stops at io.EOF
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(want))
	}
}

func TestConnReadDeadline(t *testing.T) {
	_, server := pair(t)
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := server.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with nothing sent: %v, want a deadline error", err)
	}
}

func TestConnCloseEndsRead(t *testing.T) {
	_, server := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	server.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a waiting Read")
	}
}

func TestConnReset(t *testing.T) {
	client, server := pair(t)
	client.(Conn).SetLinger(0)
	client.Close() // a reset
	_, err := server.Read(make([]byte, 10))
	if !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("Read after the peer's reset: %v, want ECONNRESET", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "read" {
		t.Fatalf("Read error %v is not a read *net.OpError", err)
	}
}

func TestTCPLeavesOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := TCP(a); c != a {
		t.Fatalf("TCP(net.Pipe end) = %T, want it unchanged", c)
	}
}

func TestSplice(t *testing.T) {
	client, server := pair(t)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	rc, err := server.(Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const flags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK
	var serr error
	rc.Read(func(fd uintptr) bool {
		_, serr = Splice(int(fd), p[1], 1<<16, flags)
		return true
	})
	if serr != unix.EAGAIN {
		t.Fatalf("splice of an empty socket: %v, want EAGAIN", serr)
	}
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := rc.Read(func(fd uintptr) bool {
		n, serr = Splice(int(fd), p[1], 1<<16, flags)
		return serr != unix.EAGAIN
	}); err != nil || serr != nil {
		t.Fatalf("splice: %v %v", err, serr)
	}
	buf := make([]byte, 16)
	m, err := Read(uintptr(p[0]), buf)
	if err != nil || n != 5 || string(buf[:m]) != "hello" {
		t.Fatalf("spliced %d bytes, read %q (%v), want hello", n, buf[:m], err)
	}
	if _, err := Read(uintptr(p[0]), buf); err != unix.EAGAIN {
		t.Fatalf("read of an empty non-blocking pipe: %v, want EAGAIN", err)
	}
}
