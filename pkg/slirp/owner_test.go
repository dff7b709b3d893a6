package slirp

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseSockAddr(t *testing.T) {
	for s, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"6402000A:D431":                         "10.0.2.100:54321",
		"00000000:0000":                         "0.0.0.0:0",
		"00000000000000000000000001000000:0035": "[::1]:53",
		"0000000000000000FFFF00006402000A:0050": "[::ffff:10.0.2.100]:80",
	} {
		got, ok := parseSockAddr(s)
		if !ok || got.String() != want {
			t.Errorf("parseSockAddr(%q) = %v, %v; want %s", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "0100007F", "0100007F:xyz", "01007F:0050", "zz00007F:0050"} {
		if _, ok := parseSockAddr(s); ok {
			t.Errorf("parseSockAddr(%q) succeeded", s)
		}
	}
}

func TestFindSocket(t *testing.T) {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 6402000A:D431 0A6433C6:01BB 02 00000000:00000000 01:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 6402000A:D432 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4343 2 0000000000000000 0
`
	dst := netip.MustParseAddrPort("198.51.100.10:443")
	if got := findSocket([]byte(table), false, 0xd431, dst); got != "4242" {
		t.Errorf("connected TCP socket: %q, want 4242", got)
	}
	if got := findSocket([]byte(table), false, 0xd431, netip.MustParseAddrPort("198.51.100.10:80")); got != "" {
		t.Errorf("other destination: %q, want none", got)
	}
	if got := findSocket([]byte(table), true, 0xd432, dst); got != "4343" {
		t.Errorf("unconnected UDP socket: %q, want 4343", got)
	}
	if got := findSocket([]byte(table), false, 0xd432, dst); got != "" {
		t.Errorf("unconnected socket for TCP: %q, want none", got)
	}
}

// TestSockOwner finds this process as the owner of a socket it connects.
func TestSockOwner(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	pid, comm, ok := sockOwner(os.Getpid(), "tcp", local.Port(), remote)
	self, _ := os.ReadFile("/proc/self/comm")
	if !ok || pid != nsPid(os.Getpid()) || comm != strings.TrimSpace(string(self)) {
		t.Errorf("sockOwner = %d, %q, %v; want %d, %q", pid, comm, ok, os.Getpid(), self)
	}
	if _, _, ok := sockOwner(os.Getpid(), "tcp", local.Port()+1, remote); ok {
		t.Error("sockOwner found a socket that does not exist")
	}
	if _, _, ok := sockOwner(0, "tcp", local.Port(), remote); ok {
		t.Error("sockOwner without a pid found one")
	}
}

func TestRefusalLine(t *testing.T) {
	r := &refusal{
		when:  time.Date(2026, 12, 5, 23, 59, 1, 123456789, time.UTC),
		proto: "tcp", dst: netip.MustParseAddrPort("198.51.100.12:443"),
		name: "evil.example", reason: "not-allowed",
	}
	if got, want := r.line(123, "curl"), "2026-12-05T23:59:01.123Z refused tcp 198.51.100.12:443 name=evil.example pid=123 comm=curl reason=not-allowed\n"; got != want {
		t.Errorf("line = %q\nwant   %q", got, want)
	}
	r.name = ""
	if got, want := r.line(0, "a b\nc"), "2026-12-05T23:59:01.123Z refused tcp 198.51.100.12:443 name=- pid=- comm=a\\x20b\\x0ac reason=not-allowed\n"; got != want {
		t.Errorf("line = %q\nwant   %q", got, want)
	}
}
