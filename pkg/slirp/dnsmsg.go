package slirp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsQuery is a DNS query the container sent, as the allow-list needs it.
type dnsQuery struct {
	hdr dnsmessage.Header
	q   dnsmessage.Question // the one question
	// name is the question's name, lower-case, without the trailing dot.
	name string
}

// parseQuery parses a DNS query of one question. It fails on anything
// else; hdr is then what could be read of the header (ok false when
// nothing could).
func parseQuery(msg []byte) (q dnsQuery, ok bool, err error) {
	var p dnsmessage.Parser
	if q.hdr, err = p.Start(msg); err != nil {
		return q, false, fmt.Errorf("DNS query: %w", err)
	}
	if q.hdr.Response || q.hdr.OpCode != 0 {
		return q, true, errors.New("DNS query: not a standard query")
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return q, true, fmt.Errorf("DNS query: %w", err)
	}
	if len(qs) != 1 {
		return q, true, fmt.Errorf("DNS query: %d questions, want 1", len(qs))
	}
	q.q = qs[0]
	q.name = strings.TrimSuffix(strings.ToLower(q.q.Name.String()), ".")
	return q, true, nil
}

// dnsReply returns an answer without records to a query whose header is
// hdr and question q (nil: none), with rcode: NXDOMAIN for a name the
// allow-list refuses, FORMERR for a query it cannot read.
func dnsReply(hdr dnsmessage.Header, q *dnsmessage.Question, rcode dnsmessage.RCode) []byte {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{
		ID:                 hdr.ID,
		Response:           true,
		OpCode:             hdr.OpCode,
		RecursionDesired:   hdr.RecursionDesired,
		RecursionAvailable: true,
		RCode:              rcode,
	})
	if q != nil {
		if err := b.StartQuestions(); err == nil {
			b.Question(*q)
		}
	}
	msg, err := b.Finish()
	if err != nil && q != nil {
		// Only a question that does not pack fails: answer without it.
		return dnsReply(hdr, nil, rcode)
	}
	return msg
}

// answerAddrs returns the A and AAAA addresses that msg, an answer to a
// query for name (lower-case, without the trailing dot), gives name: the
// records of name and of the names its CNAME records lead to. It gives
// none for an answer with an error code or another question.
func answerAddrs(name string, msg []byte) ([]netip.Addr, error) {
	var p dnsmessage.Parser
	hdr, err := p.Start(msg)
	if err != nil {
		return nil, fmt.Errorf("DNS answer: %w", err)
	}
	if !hdr.Response || hdr.RCode != dnsmessage.RCodeSuccess {
		return nil, nil
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return nil, fmt.Errorf("DNS answer: %w", err)
	}
	if len(qs) != 1 || normDNSName(qs[0].Name) != name {
		return nil, errors.New("DNS answer: not to the question asked")
	}
	type rec struct {
		owner string
		addr  netip.Addr // an address record's
		cname string     // a CNAME record's target
	}
	var recs []rec
	for {
		h, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("DNS answer: %w", err)
		}
		r := rec{owner: normDNSName(h.Name)}
		switch {
		case h.Class != dnsmessage.ClassINET:
			err = p.SkipAnswer()
		case h.Type == dnsmessage.TypeA:
			var a dnsmessage.AResource
			if a, err = p.AResource(); err == nil {
				r.addr = netip.AddrFrom4(a.A)
			}
		case h.Type == dnsmessage.TypeAAAA:
			var a dnsmessage.AAAAResource
			if a, err = p.AAAAResource(); err == nil {
				r.addr = netip.AddrFrom16(a.AAAA).Unmap()
			}
		case h.Type == dnsmessage.TypeCNAME:
			var c dnsmessage.CNAMEResource
			if c, err = p.CNAMEResource(); err == nil {
				r.cname = normDNSName(c.CNAME)
			}
		default:
			err = p.SkipAnswer()
		}
		if err != nil {
			return nil, fmt.Errorf("DNS answer: %w", err)
		}
		if r.addr.IsValid() || r.cname != "" {
			recs = append(recs, r)
		}
	}
	// The names of the chain: name and the CNAME targets it leads to, in
	// whatever order the records come.
	chain := map[string]bool{name: true}
	for grew := true; grew; {
		grew = false
		for _, r := range recs {
			if r.cname != "" && chain[r.owner] && !chain[r.cname] {
				chain[r.cname] = true
				grew = true
			}
		}
	}
	var addrs []netip.Addr
	for _, r := range recs {
		if r.addr.IsValid() && chain[r.owner] {
			addrs = append(addrs, r.addr)
		}
	}
	return addrs, nil
}

// normDNSName is n lower-case, without the trailing dot.
func normDNSName(n dnsmessage.Name) string {
	return strings.TrimSuffix(strings.ToLower(n.String()), ".")
}

// readFramed reads one DNS message over TCP: a 2-byte length, then the
// message.
func readFramed(r io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, fmt.Errorf("DNS over TCP: %w", err)
	}
	return msg, nil
}

// framed returns msg with its 2-byte length before it, as DNS over TCP
// sends it (in one write).
func framed(msg []byte) []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	return append(b, msg...)
}
