package slirp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/rless/rless/internal/rawio"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/network/relay"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	dialTimeout = 30 * time.Second
	udpIdle     = 90 * time.Second // NAT lifetime of a quiet UDP flow
	dnsTimeout  = 3 * time.Second  // per resolver and query
	relayBuf    = 256 << 10
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, relayBuf); return &b }}

func addr(a netip.Addr) tcpip.Address { return tcpip.AddrFromSlice(a.AsSlice()) }

func toAddr(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip
}

// target maps a destination the container asked for to the host address to
// connect to; ok is false when it must be refused.
func (n *Network) target(dst netip.Addr, port uint16) (string, bool) {
	switch {
	case n.cfg.IsGateway(dst):
		// Under an allow-list, its Check has decided.
		if !n.cfg.AllowHostLoopback && n.egress == nil {
			return "", false
		}
		if dst.Is4() {
			dst = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			dst = netip.IPv6Loopback()
		}
	case n.cfg.IsDNS(dst):
		if port != 53 || len(n.resolvers) == 0 {
			return "", false
		}
		return n.resolvers[0], true
	case dst.IsLoopback(), dst.IsUnspecified(), dst.IsMulticast(), dst.IsLinkLocalUnicast(),
		dst.Is4In6(), dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "", false
	case n.cfg.OnLink(dst):
		return "", false // nothing else lives on the link
	}
	return netip.AddrPortFrom(dst, port).String(), true
}

// handleTCP serves a connection the container opens: it dials the target
// from the host and relays, or resets the connection if that fails.
func (n *Network) handleTCP(r *tcp.ForwarderRequest) {
	if !n.track() {
		r.Complete(true)
		return
	}
	defer n.wg.Done()
	id := r.ID()
	var v network.Verdict
	if n.egress != nil {
		dst := netip.AddrPortFrom(toAddr(id.LocalAddress), id.LocalPort)
		if v = n.egress.policy.Check(dst.Addr(), dst.Port()); !v.Allowed {
			// Found while the container's socket waits for its SYN.
			n.waitLookup(n.refuse("tcp", id.RemotePort, dst, n.knownName(dst.Addr(), v), v.Reason))
			r.Complete(true)
			return
		}
		if v.DNS {
			n.serveDNSTCP(r)
			return
		}
	}
	dst, ok := n.target(toAddr(id.LocalAddress), id.LocalPort)
	if !ok {
		r.Complete(true)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
	var d net.Dialer
	hc, err := d.DialContext(ctx, "tcp", dst)
	cancel()
	if err != nil {
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	r.Complete(false)
	if terr != nil {
		hc.Close()
		return
	}
	ep.SocketOptions().SetKeepAlive(true)
	if v.Learned {
		gate := n.gate(netip.AddrPortFrom(toAddr(id.LocalAddress), id.LocalPort), id.RemotePort)
		n.relayEach(gonet.NewTCPConn(&wq, ep), rawio.TCP(hc), copyHalf, gate)
		return
	}
	n.relay(gonet.NewTCPConn(&wq, ep), rawio.TCP(hc), copyHalf)
}

// closeWriter is a connection that can shut down its sending half.
type closeWriter interface {
	net.Conn
	CloseWrite() error
}

// relay copies between a and b in both directions, each with half (copyHalf
// for streams, pump for datagrams), until both directions end or the network
// closes; it closes both.
func (n *Network) relay(a, b net.Conn, half func(dst, src net.Conn)) {
	n.relayEach(a, b, half, half)
}

// relayEach is relay with a copier for each direction: toA(a, b) copies
// from b to a, toB(b, a) from a to b.
func (n *Network) relayEach(a, b net.Conn, toA, toB func(dst, src net.Conn)) {
	stop := context.AfterFunc(n.ctx, func() { a.Close(); b.Close() })
	defer stop()
	defer a.Close()
	defer b.Close()
	done := make(chan struct{})
	go func() { // tracked through the caller, which waits for done
		toA(a, b)
		close(done)
	}()
	toB(b, a)
	<-done
}

// copyHalf copies the stream src to dst, then shuts down dst's sending half (or all of
// dst if it cannot half-close, or src failed).
func copyHalf(dst, src net.Conn) {
	bp := bufPool.Get().(*[]byte)
	// Hide ReadFrom/WriteTo: net.TCPConn's would fall back to a 32 KiB copy.
	_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
	bufPool.Put(bp)
	if cw, ok := dst.(closeWriter); ok && err == nil {
		cw.CloseWrite()
		return
	}
	dst.Close()
	src.Close()
}

// handleUDP serves the first datagram of a flow from the container. It runs
// in the stack's receive path, so it must not block.
func (n *Network) handleUDP(r *udp.ForwarderRequest) bool {
	id := r.ID()
	dstIP := toAddr(id.LocalAddress)
	dnsQuery := n.cfg.IsDNS(dstIP) && id.LocalPort == 53
	if n.egress != nil {
		if v := n.egress.policy.Check(dstIP, id.LocalPort); !v.Allowed {
			n.refuseUDP(netip.AddrPortFrom(toAddr(id.RemoteAddress), id.RemotePort), netip.AddrPortFrom(dstIP, id.LocalPort), v)
			return false
		}
	}
	dst, ok := n.target(dstIP, id.LocalPort)
	if !ok {
		return false // the stack answers port unreachable
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		return true
	}
	cc := gonet.NewUDPConn(&wq, ep)
	n.goTracked(func() {
		if dnsQuery {
			n.serveDNS(cc)
			return
		}
		hc, err := net.Dial("udp", dst)
		if err != nil {
			cc.Close()
			return
		}
		n.relay(cc, hc, pump)
	}, cc)
	return true
}

// pump copies datagrams from src to dst until src is idle for udpIdle or
// fails; it then closes both, which ends the opposite pump too. A flow
// relayed with it ends when neither side has sent anything for udpIdle.
func pump(dst, src net.Conn) {
	buf := make([]byte, 65536)
	for {
		src.SetReadDeadline(time.Now().Add(udpIdle))
		k, err := src.Read(buf)
		if err != nil {
			break
		}
		if _, err := dst.Write(buf[:k]); err != nil && !isTransient(err) {
			break
		}
	}
	src.Close()
	dst.Close()
}

// isTransient reports whether a UDP write error (such as ECONNREFUSED from a
// previous datagram's ICMP error) should not end the flow.
func isTransient(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !errors.Is(err, net.ErrClosed)
}

// serveDNS answers the container's queries to the DNS address, relaying each
// to the host's resolvers in turn until one answers.
func (n *Network) serveDNS(c net.Conn) {
	stop := context.AfterFunc(n.ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		buf := make([]byte, 65536)
		c.SetReadDeadline(time.Now().Add(udpIdle))
		k, err := c.Read(buf)
		if err != nil {
			return
		}
		if n.egress != nil {
			wg.Go(func() { n.filterDNS(c, buf[:k]) })
			continue
		}
		wg.Go(func() {
			if ans := n.resolve(buf[:k]); ans != nil {
				c.Write(ans)
			}
		})
	}
}

// filterDNS answers query, from the container over c, under the
// allow-list: NXDOMAIN for a name it refuses, else the host resolvers'
// answer, whose addresses it learns first.
func (n *Network) filterDNS(c net.Conn, query []byte) {
	var src uint16
	if ua, ok := c.RemoteAddr().(*net.UDPAddr); ok {
		src = uint16(ua.Port)
	}
	q, ok, reply, looked := n.filterQuery(query, "udp", src)
	switch {
	case !ok:
		return
	case looked != nil:
		n.waitLookup(looked)
	case reply == nil:
		if reply = n.resolve(query); reply == nil {
			return
		}
		n.learn(q, reply)
	}
	c.Write(reply)
}

// resolve sends query to each host resolver until one answers.
func (n *Network) resolve(query []byte) []byte {
	ans := make([]byte, 65536)
	for _, r := range n.resolvers {
		ctx, cancel := context.WithTimeout(n.ctx, dnsTimeout)
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", r)
		cancel()
		if err != nil {
			continue
		}
		stop := context.AfterFunc(n.ctx, func() { c.Close() })
		c.SetDeadline(time.Now().Add(dnsTimeout))
		var k int
		if _, err = c.Write(query); err == nil {
			k, err = c.Read(ans)
		}
		stop()
		c.Close()
		// A reply must carry the query's ID.
		if err == nil && k >= 12 && ans[0] == query[0] && ans[1] == query[1] {
			return ans[:k]
		}
		if n.ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// serveTCP accepts connections on a published TCP port and relays each to
// the container.
func (n *Network) serveTCP(pl network.TCPListener) {
	for {
		c, err := pl.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || n.ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		if n.handOff(c, pl.Mapping.ContainerPort) {
			continue
		}
		n.goTracked(func() {
			ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
			defer cancel()
			var cc *gonet.TCPConn
			var err error
			for _, in := range n.inbound(c.RemoteAddr(), pl.Mapping.ContainerPort) {
				if cc, err = gonet.DialTCPWithBind(ctx, n.stack, in.local, in.remote, in.proto); err == nil {
					break
				}
			}
			if err != nil {
				c.Close()
				return
			}
			n.relay(cc, rawio.TCP(c), copyHalf)
		}, c)
	}
}

// handOff gives c, a connection of a client on the host's loopback, to the
// container's relay (see SetRelay) for its port, and reports whether it
// did (then c is closed here: the relay has its own copy).
func (n *Network) handOff(c net.Conn, port uint16) bool {
	sock := n.relaySock.Load()
	tc, ok := c.(*net.TCPConn)
	if sock == nil || !ok {
		return false
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return false
	}
	targets := []netip.AddrPort{
		netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port),
		netip.AddrPortFrom(n.cfg.ContainerAddr().Addr(), port),
	}
	if err := relay.Send(sock, tc, targets); err != nil {
		return false
	}
	c.Close()
	return true
}

// SetRelay makes the network hand the connections of the host's loopback
// clients to its published ports to sock, the host's end of the
// container's relay (see package relay), rather than relay them through
// the stack: the kernel relays them in the container, and its server sees
// them come from its own loopback, as behind pasta. The network owns sock.
func (n *Network) SetRelay(sock *os.File) {
	if old := n.relaySock.Swap(sock); old != nil {
		old.Close()
	}
}

// inboundAddrs are the addresses of a connection the stack makes to the
// container for a client of a published port.
type inboundAddrs struct {
	local, remote tcpip.FullAddress
	proto         tcpip.NetworkProtocolNumber
}

// inbound returns how to reach the container's port for client, in the
// order to try: from the client's own address and port (what the server
// in the container sees, as behind pasta: a client of the host's own
// addresses shows one of them), then from its address and any port (its
// port may still be taken by an earlier connection), then from the gateway.
// An IPv6 client reaches the container's IPv6 address; clients on the
// host's loopback, and those whose address the link itself uses, come from
// the gateway.
func (n *Network) inbound(client net.Addr, port uint16) []inboundAddrs {
	gateway := inboundAddrs{
		local:  tcpip.FullAddress{NIC: nicID},
		remote: tcpip.FullAddress{NIC: nicID, Addr: addr(n.cfg.ContainerAddr().Addr()), Port: port},
		proto:  ipv4.ProtocolNumber,
	}
	ap, err := netip.ParseAddrPort(client.String())
	if err != nil {
		return []inboundAddrs{gateway}
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() || n.cfg.OnLink(a) {
		return []inboundAddrs{gateway}
	}
	own := gateway
	if a.Is6() {
		if n.cfg.NoIPv6 {
			return []inboundAddrs{gateway}
		}
		own.remote.Addr, own.proto = addr(n.cfg.ContainerAddr6().Addr()), ipv6.ProtocolNumber
	}
	own.local.Addr, own.local.Port = addr(a), ap.Port()
	anyPort := own
	anyPort.local.Port = 0
	return []inboundAddrs{own, anyPort, gateway}
}

// serveUDP relays datagrams between clients of a published UDP port and the
// container, one flow per client address.
func (n *Network) serveUDP(pu network.UDPListener) {
	var mu sync.Mutex
	flows := map[netip.AddrPort]*gonet.UDPConn{}
	buf := make([]byte, 65536)
	for {
		k, from, err := pu.Conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || n.ctx.Err() != nil {
				return
			}
			continue
		}
		mu.Lock()
		cc := flows[from]
		mu.Unlock()
		if cc == nil {
			var err error
			for _, in := range n.inbound(net.UDPAddrFromAddrPort(from), pu.Mapping.ContainerPort) {
				if cc, err = gonet.DialUDP(n.stack, &in.local, &in.remote, in.proto); err == nil {
					break
				}
			}
			if err != nil {
				continue
			}
			mu.Lock()
			flows[from] = cc
			mu.Unlock()
			started := n.goTracked(func() {
				stop := context.AfterFunc(n.ctx, func() { cc.Close() })
				defer stop()
				rb := make([]byte, 65536)
				for {
					cc.SetReadDeadline(time.Now().Add(udpIdle))
					k, err := cc.Read(rb)
					if err != nil {
						break
					}
					pu.Conn.WriteToUDPAddrPort(rb[:k], from)
				}
				mu.Lock()
				delete(flows, from)
				mu.Unlock()
				cc.Close()
			}, cc)
			if !started {
				return
			}
		}
		cc.Write(buf[:k])
	}
}
