package slirp

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func dnsQueryMsg(t testing.TB, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// dnsAnswerMsg answers a query for name with the records rrs, each
// {owner, "A"|"AAAA"|"CNAME"|"TXT", value}.
func dnsAnswerMsg(t testing.TB, name string, rcode dnsmessage.RCode, rrs ...[3]string) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, Response: true, RCode: rcode})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	b.StartAnswers()
	for _, rr := range rrs {
		h := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(rr[0]), Class: dnsmessage.ClassINET, TTL: 60}
		var err error
		switch rr[1] {
		case "A":
			err = b.AResource(h, dnsmessage.AResource{A: netip.MustParseAddr(rr[2]).As4()})
		case "AAAA":
			err = b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: netip.MustParseAddr(rr[2]).As16()})
		case "CNAME":
			err = b.CNAMEResource(h, dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(rr[2])})
		case "TXT":
			err = b.TXTResource(h, dnsmessage.TXTResource{TXT: []string{rr[2]}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestParseQuery(t *testing.T) {
	q, ok, err := parseQuery(dnsQueryMsg(t, "WWW.Allowed.Test.", dnsmessage.TypeAAAA))
	if !ok || err != nil || q.name != "www.allowed.test" || q.hdr.ID != 0x1234 || q.q.Type != dnsmessage.TypeAAAA {
		t.Fatalf("parseQuery = %+v, %v, %v", q, ok, err)
	}
	// The NXDOMAIN answer to it.
	var p dnsmessage.Parser
	msg := dnsReply(q.hdr, &q.q, dnsmessage.RCodeNameError)
	h, err := p.Start(msg)
	if err != nil || !h.Response || h.ID != 0x1234 || h.RCode != dnsmessage.RCodeNameError || !h.RecursionDesired {
		t.Fatalf("NXDOMAIN header %+v, %v", h, err)
	}
	if qs, err := p.AllQuestions(); err != nil || len(qs) != 1 || qs[0] != q.q {
		t.Errorf("NXDOMAIN questions %v, %v", qs, err)
	}
	if as, err := p.AllAnswers(); err != nil || len(as) != 0 {
		t.Errorf("NXDOMAIN answers %v, %v", as, err)
	}

	if _, ok, err := parseQuery([]byte{1, 2, 3}); ok || err == nil {
		t.Errorf("parseQuery(short) = %v, %v; want not ok", ok, err)
	}
	two := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7})
	two.StartQuestions()
	two.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("a.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	two.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("b.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, _ = two.Finish()
	if q, ok, err := parseQuery(msg); !ok || err == nil || q.hdr.ID != 7 {
		t.Errorf("parseQuery(two questions) = %v, %v; want an error", ok, err)
	}
	if q, ok, err := parseQuery(dnsAnswerMsg(t, "a.test.", 0)); !ok || err == nil || q.hdr.ID != 0x1234 {
		t.Errorf("parseQuery(answer) = %v, %v; want an error", ok, err)
	}
	// A FORMERR answer has no question.
	if _, err := p.Start(dnsReply(dnsmessage.Header{ID: 9}, nil, dnsmessage.RCodeFormatError)); err != nil {
		t.Error(err)
	}
}

func TestAnswerAddrs(t *testing.T) {
	for _, c := range []struct {
		what  string
		msg   []byte
		addrs []string
		fail  bool
	}{
		{"A", dnsAnswerMsg(t, "allowed.test.", 0, [3]string{"allowed.test.", "A", "198.51.100.10"}, [3]string{"Allowed.TEST.", "AAAA", "2001:db8::1"}),
			[]string{"198.51.100.10", "2001:db8::1"}, false},
		{"chain", dnsAnswerMsg(t, "www.allowed.test.", 0,
			[3]string{"www.allowed.test.", "CNAME", "edge.cdn.test."},
			[3]string{"edge.cdn.test.", "CNAME", "e1.cdn.test."},
			[3]string{"e1.cdn.test.", "A", "203.0.113.5"},
			[3]string{"unrelated.test.", "A", "203.0.113.6"},
			[3]string{"www.allowed.test.", "TXT", "x"}),
			[]string{"203.0.113.5"}, false},
		{"chain out of order", dnsAnswerMsg(t, "www.allowed.test.", 0,
			[3]string{"e1.cdn.test.", "A", "203.0.113.5"},
			[3]string{"edge.cdn.test.", "CNAME", "e1.cdn.test."},
			[3]string{"www.allowed.test.", "CNAME", "edge.cdn.test."}),
			[]string{"203.0.113.5"}, false},
		{"CNAME loop", dnsAnswerMsg(t, "www.allowed.test.", 0,
			[3]string{"www.allowed.test.", "CNAME", "x.test."},
			[3]string{"x.test.", "CNAME", "www.allowed.test."}),
			nil, false},
		{"NXDOMAIN", dnsAnswerMsg(t, "allowed.test.", dnsmessage.RCodeNameError, [3]string{"allowed.test.", "A", "198.51.100.10"}), nil, false},
		{"other question", dnsAnswerMsg(t, "other.test.", 0, [3]string{"allowed.test.", "A", "198.51.100.10"}), nil, true},
		{"garbage", []byte{0x12, 0x34, 0x81}, nil, true},
	} {
		got, err := answerAddrs("www.allowed.test", c.msg)
		if c.what == "A" || c.what == "NXDOMAIN" || c.what == "other question" {
			got, err = answerAddrs("allowed.test", c.msg)
		}
		var want []netip.Addr
		for _, a := range c.addrs {
			want = append(want, netip.MustParseAddr(a))
		}
		if (err != nil) != c.fail || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: answerAddrs = %v, %v; want %v (error: %v)", c.what, got, err, want, c.fail)
		}
	}
}

func TestFramed(t *testing.T) {
	msg := []byte("hello")
	var buf bytes.Buffer
	buf.Write(framed(msg))
	buf.Write(framed(nil))
	if got, err := readFramed(&buf); err != nil || string(got) != "hello" {
		t.Errorf("readFramed = %q, %v", got, err)
	}
	if got, err := readFramed(&buf); err != nil || len(got) != 0 {
		t.Errorf("readFramed = %q, %v", got, err)
	}
	if _, err := readFramed(bytes.NewReader([]byte{0, 5, 'a'})); err == nil {
		t.Error("readFramed of a cut message: no error")
	}
}

func FuzzSniff(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"))
	f.Add([]byte("GET http://x HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, _ := sniff(bytes.NewReader(data))
		if !bytes.HasPrefix(data, got) {
			t.Errorf("sniff returned %q, not a prefix of its input", got)
		}
		if len(data) > 2 {
			body := data[2:]
			clientHelloSNI(body)
		}
	})
}

func FuzzDNS(f *testing.F) {
	f.Add(dnsQueryMsg(f, "a.test.", dnsmessage.TypeA))
	f.Add(dnsAnswerMsg(f, "a.test.", 0, [3]string{"a.test.", "CNAME", "b.test."}, [3]string{"b.test.", "A", "192.0.2.1"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if q, ok, err := parseQuery(data); ok {
			if err == nil {
				dnsReply(q.hdr, &q.q, dnsmessage.RCodeNameError)
			} else {
				dnsReply(q.hdr, nil, dnsmessage.RCodeFormatError)
			}
		}
		answerAddrs("a.test", data)
	})
}
