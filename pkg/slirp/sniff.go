package slirp

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
)

// sniffMax bounds what sniff buffers: the TLS records carrying a
// ClientHello, or an HTTP request's header block.
const sniffMax = 16 << 10

// maxMethod bounds the length of an HTTP method token.
const maxMethod = 24

// sniffed is what the first bytes of a connection say of the name the
// client asks the server for.
type sniffed struct {
	// proto is "tls" (a ClientHello), "http" (an HTTP/1 request) or ""
	// (neither: nothing to check).
	proto string
	// names are the server names the client asks for: the ClientHello's
	// SNI; the Host header of the request and the authority of its
	// target when absolute (http://name/...) or a CONNECT's. None when it
	// names none.
	names []string
	// bad says why the start of a ClientHello or HTTP request cannot be
	// checked ("" when it can), as a refusal reason.
	bad string
}

// sniff reads the first bytes a client sends on r until it can tell
// whether they begin a TLS ClientHello or an HTTP/1 request, and the
// names they carry; it stops reading as soon as they cannot. It returns
// what it read (to be forwarded) and what it found; err is the read error
// that cut the reading short, if any (io.EOF when the client closed its
// sending half). It buffers at most 2*sniffMax bytes.
func sniff(r io.Reader) ([]byte, sniffed, error) {
	b := &sniffBuf{r: r}
	if err := b.need(1); err != nil {
		return b.buf, sniffed{}, err
	}
	switch c := b.buf[0]; {
	case c == 0x16:
		if err := b.need(2); err != nil {
			return b.buf, sniffed{}, err
		}
		if b.buf[1] != 0x03 {
			return b.buf, sniffed{}, nil
		}
		s, err := sniffTLS(b)
		return b.buf, s, err
	case isTokenChar(c):
		s, err := sniffHTTP(b)
		return b.buf, s, err
	}
	return b.buf, sniffed{}, nil
}

// sniffBuf is the bytes read so far from r.
type sniffBuf struct {
	r   io.Reader
	buf []byte
	err error
}

// need reads until there are n bytes, or fails.
func (b *sniffBuf) need(n int) error {
	for len(b.buf) < n {
		if err := b.more(); err != nil {
			return err
		}
	}
	return nil
}

// more reads once more (at least a byte), or fails.
func (b *sniffBuf) more() error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf) == cap(b.buf) {
		nb := make([]byte, len(b.buf), max(512, 2*cap(b.buf)))
		copy(nb, b.buf)
		b.buf = nb
	}
	for {
		k, err := b.r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+k]
		if err != nil {
			b.err = err
			if k > 0 {
				return nil
			}
			return err
		}
		if k > 0 {
			return nil
		}
	}
}

// sniffTLS reads the TLS handshake records that carry the ClientHello
// and finds its server name.
func sniffTLS(b *sniffBuf) (sniffed, error) {
	s := sniffed{proto: "tls"}
	var hs []byte // handshake bytes
	off := 0      // start of the next record in b.buf
	for {
		if err := b.need(off + 5); err != nil {
			return tlsBad(err)
		}
		hdr := b.buf[off : off+5]
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if hdr[0] != 0x16 || hdr[1] != 0x03 || n == 0 {
			s.bad = "tls-malformed"
			return s, nil
		}
		if len(hs)+n > sniffMax+4 || off+5+n > 2*sniffMax {
			s.bad = "tls-too-large"
			return s, nil
		}
		if err := b.need(off + 5 + n); err != nil {
			return tlsBad(err)
		}
		hs = append(hs, b.buf[off+5:off+5+n]...)
		off += 5 + n
		if len(hs) < 4 {
			continue
		}
		if hs[0] != 1 { // client_hello
			s.bad = "tls-malformed"
			return s, nil
		}
		l := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if l > sniffMax {
			s.bad = "tls-too-large"
			return s, nil
		}
		if len(hs) >= 4+l {
			name, ok := clientHelloSNI(hs[4 : 4+l])
			if !ok {
				s.bad = "tls-malformed"
			} else if name != "" {
				s.names = []string{name}
			}
			return s, nil
		}
	}
}

// tlsBad is sniffTLS's result when reading failed before the ClientHello
// was complete: a client that stops there is refused.
func tlsBad(err error) (sniffed, error) {
	return sniffed{proto: "tls", bad: "tls-malformed"}, err
}

// clientHelloSNI returns the host name of the server_name extension of a
// ClientHello's body ("" if none); ok is false if the body is malformed
// (as a server would reject it).
func clientHelloSNI(body []byte) (name string, ok bool) {
	r := reader(body)
	if !r.skip(2+32) || !r.skipVec(1) || !r.skipVec(2) || !r.skipVec(1) {
		return "", false
	}
	if len(r) == 0 {
		return "", true // no extensions
	}
	exts, ok := r.vec(2)
	if !ok || len(r) != 0 {
		return "", false
	}
	seen := false
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		data, ok2 := exts.vec(2)
		if !ok1 || !ok2 {
			return "", false
		}
		if typ != 0 { // server_name
			continue
		}
		if seen {
			return "", false // a duplicate extension
		}
		seen = true
		list, ok := data.vec(2)
		if !ok || len(data) != 0 {
			return "", false
		}
		for len(list) > 0 {
			nameType := list[0]
			list = list[1:]
			host, ok := list.vec(2)
			if !ok {
				return "", false
			}
			if nameType == 0 { // host_name
				if name != "" || len(host) == 0 {
					return "", false
				}
				name = strings.ToLower(string(host))
			}
		}
	}
	return name, true
}

// reader reads a TLS message's fields.
type reader []byte

func (r *reader) skip(n int) bool {
	if len(*r) < n {
		return false
	}
	*r = (*r)[n:]
	return true
}

func (r *reader) u16() (uint16, bool) {
	if len(*r) < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(*r)
	*r = (*r)[2:]
	return v, true
}

// vec reads a vector whose length is lenBytes (1 or 2) bytes long.
func (r *reader) vec(lenBytes int) (reader, bool) {
	if len(*r) < lenBytes {
		return nil, false
	}
	n := int((*r)[0])
	if lenBytes == 2 {
		n = int(binary.BigEndian.Uint16(*r))
	}
	*r = (*r)[lenBytes:]
	if len(*r) < n {
		return nil, false
	}
	v := (*r)[:n]
	*r = (*r)[n:]
	return v, true
}

func (r *reader) skipVec(lenBytes int) bool {
	_, ok := r.vec(lenBytes)
	return ok
}

// isTokenChar reports whether c may be in an HTTP method (a token).
func isTokenChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// sniffHTTP reads an HTTP/1 request's header block, if the bytes begin
// one: a method token, a space, and a request line that ends in
// HTTP/1.x; anything else is left alone as soon as it differs.
func sniffHTTP(b *sniffBuf) (sniffed, error) {
	// The method token and a space.
	for i := 0; ; i++ {
		if i > maxMethod {
			return sniffed{}, nil
		}
		if err := b.need(i + 1); err != nil {
			return sniffed{}, err
		}
		if c := b.buf[i]; c == ' ' && i > 0 {
			break
		} else if !isTokenChar(c) {
			return sniffed{}, nil
		}
	}
	s := sniffed{proto: "http"}
	// The request line: an HTTP/1 request's ends in " HTTP/1.x".
	eol := -1
	for eol < 0 {
		if eol = bytes.Index(b.buf, []byte("\r\n")); eol >= 0 {
			break
		}
		if len(b.buf) >= sniffMax {
			s.bad = "http-too-large"
			return s, nil
		}
		if err := b.more(); err != nil {
			// Cut short: checked if it looks like a request line.
			if _, rest, _ := strings.Cut(string(b.buf), " "); strings.Contains(rest, " HTTP/") {
				s.bad = "http-malformed"
				return s, err
			}
			return sniffed{}, err
		}
	}
	line := string(b.buf[:eol])
	method, rest, _ := strings.Cut(line, " ")
	target, version, ok := strings.Cut(rest, " ")
	if !ok || !strings.HasPrefix(version, "HTTP/1.") || len(version) != len("HTTP/1.1") {
		return sniffed{}, nil // not HTTP/1 (HTTP/0.9 carries no name)
	}
	// The header block.
	end := -1
	for {
		if end = bytes.Index(b.buf, []byte("\r\n\r\n")); end >= 0 {
			break
		}
		if len(b.buf) >= sniffMax {
			s.bad = "http-too-large"
			return s, nil
		}
		if err := b.more(); err != nil {
			s.bad = "http-malformed"
			return s, err
		}
	}
	if end+4 > sniffMax {
		s.bad = "http-too-large"
		return s, nil
	}
	// The target's authority, which a server prefers to Host.
	switch {
	case method == "CONNECT":
		s.names = append(s.names, hostOnly(target))
	case strings.Contains(target, "://"):
		_, auth, _ := strings.Cut(target, "://")
		auth, _, _ = strings.Cut(auth, "/")
		auth, _, _ = strings.Cut(auth, "?")
		if i := strings.LastIndexByte(auth, '@'); i >= 0 {
			auth = auth[i+1:]
		}
		s.names = append(s.names, hostOnly(auth))
	}
	hosts := 0
	var fields string // the header fields, CRLF between them
	if end > eol {
		fields = string(b.buf[eol+2 : end])
	}
	for h := range strings.SplitSeq(fields, "\r\n") {
		if h == "" && fields == "" {
			break
		}
		if h == "" || h[0] == ' ' || h[0] == '\t' {
			s.bad = "http-malformed" // obsolete line folding
			return s, nil
		}
		key, val, ok := strings.Cut(h, ":")
		if !ok {
			s.bad = "http-malformed"
			return s, nil
		}
		if !strings.EqualFold(strings.TrimSpace(key), "host") {
			continue
		}
		if hosts++; hosts > 1 {
			s.bad = "http-malformed" // more than one Host
			return s, nil
		}
		if host := hostOnly(strings.TrimSpace(val)); host != "" {
			s.names = append(s.names, host)
		}
	}
	for _, n := range s.names {
		if n == "" {
			s.bad = "http-malformed"
		}
	}
	return s, nil
}

// hostOnly returns the host of an HTTP authority host[:port], lower-case,
// without the brackets of an IPv6 address.
func hostOnly(auth string) string {
	if h, _, err := net.SplitHostPort(auth); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(auth, "["), "]"))
}
