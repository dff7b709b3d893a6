package slirp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rless/rless/pkg/network"
	"golang.org/x/net/dns/dnsmessage"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	// lookupWait bounds how long a refused connection waits, before it
	// is reset, for the logger to find the process that opened it.
	lookupWait = 500 * time.Millisecond
	// logQueue is how many refusals may wait for the logger; more are
	// counted and dropped.
	logQueue = 256
	// maxSeen bounds the refused UDP flows and rebinding addresses kept
	// to log each once.
	maxSeen = 4096
	// dnsTCPIdle ends a DNS-over-TCP connection from the container that
	// sends no query for that long.
	dnsTCPIdle = 30 * time.Second
)

// egress is a network's allow-list in force (Config.Egress).
type egress struct {
	policy *network.Policy
	log    *os.File // nil: no log
	queue  chan *refusal

	dropped atomic.Int64 // refusals left out of the log

	mu      sync.Mutex
	udpSeen map[[2]netip.AddrPort]time.Time // refused UDP flows logged: container side, destination
	rebound map[netip.Addr]string           // private addresses answered for an allowed name: the name
}

// refusal is a refused attempt, to log.
type refusal struct {
	when   time.Time
	proto  string         // "tcp" or "udp"
	src    uint16         // the container's port
	dst    netip.AddrPort // where it went
	name   string         // the DNS name it is known by ("" none)
	reason string
	// looked is closed once the process that owns the container's socket
	// has been looked for.
	looked chan struct{}
}

// newEgress returns the allow-list of cfg (nil without one), with its log
// file open.
func newEgress(cfg network.Config) (*egress, error) {
	if cfg.Egress == nil {
		return nil, nil
	}
	p, err := cfg.Egress.Policy(cfg)
	if err != nil {
		return nil, fmt.Errorf("slirp: egress: %w", err)
	}
	e := &egress{
		policy:  p,
		queue:   make(chan *refusal, logQueue),
		udpSeen: map[[2]netip.AddrPort]time.Time{},
		rebound: map[netip.Addr]string{},
	}
	if cfg.Egress.Log != "" {
		e.log, err = os.OpenFile(cfg.Egress.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("slirp: egress log: %w", err)
		}
	}
	return e, nil
}

// close closes the log file, if any.
func (e *egress) close() {
	if e != nil && e.log != nil {
		e.log.Close()
	}
}

// SetContainerPID tells the network the host pid of the container's
// first process: the refusal log of its allow-list (Config.Egress) names
// the process of the container that made each refused attempt, found
// among that one and its descendants. Without it, the log says "-".
func (n *Network) SetContainerPID(pid int) {
	n.pid.Store(int64(pid))
}

// refuse logs a refused attempt (if there is a log) and returns a channel
// closed once the process that made it has been looked for, for the
// caller to wait on (see waitLookup) before closing the container's socket.
func (n *Network) refuse(proto string, src uint16, dst netip.AddrPort, name, reason string) <-chan struct{} {
	slog.Debug("network allow-list: refused", "proto", proto, "dst", dst, "name", name, "reason", reason)
	r := &refusal{when: time.Now(), proto: proto, src: src, dst: dst, name: name, reason: reason, looked: make(chan struct{})}
	if n.egress.log == nil {
		close(r.looked)
		return r.looked
	}
	select {
	case n.egress.queue <- r:
	default:
		n.egress.dropped.Add(1)
		close(r.looked)
	}
	return r.looked
}

// waitLookup waits for looked, for lookupWait at most.
func (n *Network) waitLookup(looked <-chan struct{}) {
	t := time.NewTimer(lookupWait)
	defer t.Stop()
	select {
	case <-looked:
	case <-t.C:
	case <-n.ctx.Done():
	}
}

// logRefusals writes the refusals to the log until the network closes;
// it closes the log.
func (n *Network) logRefusals() {
	e := n.egress
	defer e.log.Close()
	for {
		select {
		case r := <-e.queue:
			n.logRefusal(r)
		case <-n.ctx.Done():
			for {
				select {
				case r := <-e.queue:
					close(r.looked)
					e.log.Write([]byte(r.line(0, "")))
				default:
					return
				}
			}
		}
	}
}

// logRefusal looks for the process that made r and writes r's line.
func (n *Network) logRefusal(r *refusal) {
	pid, comm, ok := sockOwner(int(n.pid.Load()), r.proto, r.src, r.dst)
	close(r.looked)
	if !ok {
		pid, comm = 0, ""
	}
	if d := n.egress.dropped.Swap(0); d > 0 {
		fmt.Fprintf(n.egress.log, "%s dropped %d refused attempts (too many to log)\n", stamp(r.when), d)
	}
	if _, err := n.egress.log.Write([]byte(r.line(pid, comm))); err != nil {
		slog.Debug("network allow-list: log", "err", err)
	}
}

// line formats r as a line of the log:
//
//	2026-12-05T23:59:01.123Z refused tcp 198.51.100.12:443 name=evil.example pid=123 comm=curl reason=not-allowed
//
// with "-" for what is unknown.
func (r *refusal) line(pid int, comm string) string {
	p := "-"
	if pid > 0 {
		p = strconv.Itoa(pid)
	}
	return fmt.Sprintf("%s refused %s %s name=%s pid=%s comm=%s reason=%s\n",
		stamp(r.when), r.proto, r.dst, logField(r.name), p, logField(comm), logField(r.reason))
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// logField is s as a field of the log: "-" if empty, bytes other than
// printable ASCII but space escaped (the container chooses names and
// command names).
func logField(s string) string {
	if s == "" {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > ' ' && c < 0x7f && c != '\\' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String()
}

// refuseUDP logs a refused UDP flow once (until it has been quiet for
// udpIdle); it runs in the stack's receive path and does not wait.
func (n *Network) refuseUDP(src, dst netip.AddrPort, v network.Verdict) {
	e := n.egress
	key := [2]netip.AddrPort{src, dst}
	now := time.Now()
	e.mu.Lock()
	last, seen := e.udpSeen[key]
	e.udpSeen[key] = now
	if len(e.udpSeen) > maxSeen {
		for k, t := range e.udpSeen {
			if now.Sub(t) > udpIdle {
				delete(e.udpSeen, k)
			}
		}
		if len(e.udpSeen) > maxSeen {
			clear(e.udpSeen)
		}
	}
	e.mu.Unlock()
	if seen && now.Sub(last) < udpIdle {
		return
	}
	n.refuse("udp", src.Port(), dst, n.knownName(dst.Addr(), v), v.Reason)
}

// knownName is the name dst is known by for a refusal's log: the allowed
// name whose answers gave it, or one whose answer gave it as a private
// address.
func (n *Network) knownName(dst netip.Addr, v network.Verdict) string {
	if v.Name != "" {
		return v.Name
	}
	n.egress.mu.Lock()
	defer n.egress.mu.Unlock()
	return n.egress.rebound[dst]
}

// learn records the addresses answer gives q's name, before the container
// gets it.
func (n *Network) learn(q dnsQuery, answer []byte) {
	addrs, err := answerAddrs(q.name, answer)
	if err != nil {
		slog.Debug("network allow-list: DNS answer not understood", "name", q.name, "err", err)
		return
	}
	refused := n.egress.policy.Learn(q.name, addrs)
	if len(refused) > 0 {
		e := n.egress
		e.mu.Lock()
		if len(e.rebound)+len(refused) > maxSeen {
			clear(e.rebound)
		}
		for _, a := range refused {
			e.rebound[a] = q.name
		}
		e.mu.Unlock()
	}
}

// filterQuery decides on msg, a query to the DNS address from the
// container's port src: it returns the query parsed (ok false if msg is
// not DNS: no answer), or the answer to give instead (NXDOMAIN for a name
// not allowed, FORMERR for a query it cannot read) and, when it refused
// the name, a channel to wait on before answering (see refuse).
func (n *Network) filterQuery(msg []byte, proto string, src uint16) (q dnsQuery, ok bool, reply []byte, looked <-chan struct{}) {
	q, ok, err := parseQuery(msg)
	switch {
	case !ok:
		return q, false, nil, nil
	case err != nil:
		return q, true, dnsReply(q.hdr, nil, dnsmessage.RCodeFormatError), nil
	case !n.egress.policy.AllowName(q.name):
		looked := n.refuse(proto, src, netip.AddrPortFrom(n.cfg.DNSAddr(), 53), q.name, "dns-refused")
		return q, true, dnsReply(q.hdr, &q.q, dnsmessage.RCodeNameError), looked
	}
	return q, true, nil, nil
}

// serveDNSTCP serves DNS over TCP to the DNS address under the
// allow-list: each query (2-byte length, message) is filtered as over
// UDP, and relayed to the host's resolvers over TCP.
func (n *Network) serveDNSTCP(r *tcp.ForwarderRequest) {
	src := r.ID().RemotePort // r is not to be used once complete
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	r.Complete(false)
	if terr != nil {
		return
	}
	c := gonet.NewTCPConn(&wq, ep)
	var up net.Conn // to a resolver, kept across queries
	stop := context.AfterFunc(n.ctx, func() { c.Close() })
	defer func() {
		stop()
		c.Close()
		if up != nil {
			up.Close()
		}
	}()
	for {
		c.SetReadDeadline(time.Now().Add(dnsTCPIdle))
		msg, err := readFramed(c)
		if err != nil {
			return
		}
		q, ok, reply, looked := n.filterQuery(msg, "tcp", src)
		if !ok {
			return
		}
		if looked != nil {
			n.waitLookup(looked)
		}
		if reply == nil {
			if reply = n.resolveTCP(&up, msg); reply == nil {
				reply = dnsReply(q.hdr, &q.q, dnsmessage.RCodeServerFailure)
			} else {
				n.learn(q, reply)
			}
		}
		if _, err := c.Write(framed(reply)); err != nil {
			return
		}
	}
}

// resolveTCP sends query over TCP to the host's resolvers in turn until
// one answers, over *up if open (else it opens it; it closes it when it
// fails). If none answers over TCP, it asks them over UDP.
func (n *Network) resolveTCP(up *net.Conn, query []byte) []byte {
	for _, r := range n.resolvers {
		if *up == nil {
			ctx, cancel := context.WithTimeout(n.ctx, dnsTimeout)
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", r)
			cancel()
			if err != nil {
				if n.ctx.Err() != nil {
					return nil
				}
				continue
			}
			*up = c
		}
		c := *up
		stop := context.AfterFunc(n.ctx, func() { c.Close() })
		c.SetDeadline(time.Now().Add(dnsTimeout))
		_, err := c.Write(framed(query))
		var ans []byte
		if err == nil {
			ans, err = readFramed(c)
		}
		stop()
		if err == nil && len(ans) >= 12 && ans[0] == query[0] && ans[1] == query[1] {
			return ans
		}
		c.Close()
		*up = nil
		if n.ctx.Err() != nil {
			return nil
		}
	}
	return n.resolve(query)
}

// gate returns the copier of the container's side of a TCP connection to
// dst:port allowed because DNS answers for allowed names gave dst: it
// checks the name that the client's first bytes carry (the SNI of a TLS
// ClientHello, the Host of an HTTP/1 request) against those names before
// it relays, and cuts the connection if they do not match.
func (n *Network) gate(dst netip.AddrPort, src uint16) func(hc, cc net.Conn) {
	return func(hc, cc net.Conn) {
		data, s, err := sniff(cc)
		reason, name := "", ""
		if s.bad != "" {
			reason = s.bad
			if len(s.names) > 0 {
				name = s.names[0]
			}
		}
		for _, nm := range s.names {
			if reason == "" && !n.egress.policy.CheckName(dst.Addr(), dst.Port(), nm) {
				reason, name = "host-mismatch", nm
				if s.proto == "tls" {
					reason = "sni-mismatch"
				}
			}
		}
		if reason != "" {
			n.waitLookup(n.refuse("tcp", src, dst, name, reason))
			hc.Close()
			cc.Close()
			return
		}
		if len(data) > 0 {
			if _, werr := hc.Write(data); werr != nil {
				hc.Close()
				cc.Close()
				return
			}
		}
		if err != nil {
			if cw, ok := hc.(closeWriter); ok && err == io.EOF {
				cw.CloseWrite()
				return
			}
			hc.Close()
			cc.Close()
			return
		}
		copyHalf(hc, cc)
	}
}
