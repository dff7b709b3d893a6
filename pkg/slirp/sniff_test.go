package slirp

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// clientHello returns the bytes a crypto/tls client sends first, with
// serverName as its SNI ("" none).
func clientHello(t *testing.T, serverName string) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: serverName, InsecureSkipVerify: serverName == ""})
		c.Handshake() // fails once b is closed
		a.Close()
	}()
	// The ClientHello is one record: its header gives its length.
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(b, rec); err != nil {
		t.Fatal(err)
	}
	b.Close()
	return append(hdr, rec...)
}

// splitRecords cuts the handshake of a one-record ClientHello into
// records of at most n bytes.
func splitRecords(hello []byte, n int) []byte {
	var out []byte
	for body := hello[5:]; len(body) > 0; {
		k := min(n, len(body))
		out = append(out, 0x16, 0x03, 0x01, byte(k>>8), byte(k))
		out = append(out, body[:k]...)
		body = body[k:]
	}
	return out
}

func TestSniffTLS(t *testing.T) {
	hello := clientHello(t, "Evil.Example")
	for name, in := range map[string][]byte{
		"whole":       hello,
		"records":     splitRecords(hello, 100),
		"tiny":        splitRecords(hello, 1),
		"and more":    append(append([]byte{}, hello...), 0x14, 0x03, 0x03, 0, 1, 1),
		"split again": splitRecords(hello, 3),
	} {
		for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
			data, s, err := sniff(r)
			if err != nil || s.proto != "tls" || s.bad != "" || !reflect.DeepEqual(s.names, []string{"evil.example"}) {
				t.Errorf("%s: sniff = %+v, %v; want tls evil.example", name, s, err)
			}
			if !bytes.HasPrefix(in, data) || len(data) < len(hello) {
				t.Errorf("%s: sniff returned %d bytes, not the start of the input up to the ClientHello's end", name, len(data))
			}
		}
	}
	// No SNI: nothing to check.
	if _, s, err := sniff(bytes.NewReader(clientHello(t, ""))); err != nil || s.proto != "tls" || s.bad != "" || len(s.names) != 0 {
		t.Errorf("no SNI: %+v, %v", s, err)
	}
	// Cut short: refused, with the read error.
	if _, s, err := sniff(bytes.NewReader(hello[:len(hello)-10])); err != io.EOF || s.bad == "" {
		t.Errorf("truncated: %+v, %v; want bad and EOF", s, err)
	}
	// A handshake that is not a ClientHello.
	bad := append([]byte{}, hello...)
	bad[5] = 2
	if _, s, _ := sniff(bytes.NewReader(bad)); s.bad != "tls-malformed" {
		t.Errorf("server hello: %+v", s)
	}
	// A ClientHello announcing more than sniffMax.
	big := []byte{0x16, 0x03, 0x01, 0x40, 0x00, 1, 0x01, 0x00, 0x00}
	if _, s, _ := sniff(bytes.NewReader(append(big, make([]byte, 1<<14)...))); s.bad != "tls-too-large" {
		t.Errorf("big: %+v", s)
	}
	// A broken extension list.
	broken := append([]byte{}, hello...)
	broken[len(broken)-1] ^= 0xff
	broken[5+4+2+32] = 200 // session id longer than the message
	if _, s, _ := sniff(bytes.NewReader(broken)); s.bad != "tls-malformed" {
		t.Errorf("broken: %+v", s)
	}
}

func TestSniffHTTP(t *testing.T) {
	for in, want := range map[string]sniffed{
		"GET / HTTP/1.1\r\nHost: Allowed.Test\r\nAccept: */*\r\n\r\n":   {proto: "http", names: []string{"allowed.test"}},
		"POST /x HTTP/1.0\r\nhost:allowed.test:8080\r\n\r\nbody":        {proto: "http", names: []string{"allowed.test"}},
		"GET / HTTP/1.1\r\nHost: [fd00::1]:80\r\n\r\n":                  {proto: "http", names: []string{"fd00::1"}},
		"GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n":                       {proto: "http"},
		"GET http://evil.test/x HTTP/1.1\r\nHost: allowed.test\r\n\r\n": {proto: "http", names: []string{"evil.test", "allowed.test"}},
		"GET http://u@evil.test:81?q HTTP/1.1\r\n\r\n":                  {proto: "http", names: []string{"evil.test"}},
		"CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n": {proto: "http", names: []string{"evil.test", "evil.test"}},
		"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n":        {proto: "http", names: []string{"a.test"}, bad: "http-malformed"},
		"GET / HTTP/1.1\r\nHost: a.test\r\n b.test\r\n\r\n":             {proto: "http", names: []string{"a.test"}, bad: "http-malformed"},
		"GET / HTTP/1.1\r\nHost : a.test\r\n\r\n":                       {proto: "http", names: []string{"a.test"}},
		"GET / HTTP/1.1\r\nbroken\r\n\r\n":                              {proto: "http", bad: "http-malformed"},
		"GET / HTTP/1.1\r\nHost: a.test\r\n":                            {proto: "http", bad: "http-malformed"}, // EOF before the end
		"GET / HTTP/1.1":                                                {proto: "http", bad: "http-malformed"},
		"SET key value\r\n":                                             {}, // Redis: not HTTP
		"SSH-2.0-OpenSSH_9.6\r\n":                                       {},
		"PING\r\n":                                                      {},
		"\x00\x01binary":                                                {},
		"HELLOTHEREVERYLONGTOKENWITHOUTANYSPACEATALL x":                 {},
		"GET /\r\n":                        {},
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n": {},
		"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\n": {proto: "http", names: []string{"a.test"}},
	} {
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			data, got, err := sniff(r)
			if err != nil && err != io.EOF {
				t.Errorf("sniff(%q): %v", in, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("sniff(%q) = %+v, want %+v", in, got, want)
			}
			if !strings.HasPrefix(in, string(data)) {
				t.Errorf("sniff(%q) returned %q", in, data)
			}
		}
	}
	// A header block beyond sniffMax.
	long := "GET / HTTP/1.1\r\nCookie: " + strings.Repeat("x", sniffMax) + "\r\nHost: a.test\r\n\r\n"
	if _, s, _ := sniff(strings.NewReader(long)); s.bad != "http-too-large" {
		t.Errorf("long header: %+v", s)
	}
	// It stops reading once the header block is in, whatever follows.
	r := io.MultiReader(iotest.OneByteReader(strings.NewReader("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")), iotest.ErrReader(io.ErrNoProgress))
	if data, s, err := sniff(r); err != nil || len(s.names) != 1 || !strings.HasSuffix(string(data), "\r\n\r\n") {
		t.Errorf("sniff read past the header block: %q, %+v, %v", data, s, err)
	}
}
