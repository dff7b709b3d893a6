package slirp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	xipv4 "golang.org/x/net/ipv4"
	xipv6 "golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// pingIdle is how long a ping flow's host socket stays open without an
// echo request or reply; maxPingFlows bounds the host sockets open at once
// (requests beyond are dropped).
const (
	pingIdle     = 30 * time.Second
	maxPingFlows = 256
)

// pingFlow is the echo requests of one container process to one
// destination (one ICMP echo identifier), sent from one host ICMP socket:
// the host's kernel gives the socket an identifier of its own, which the
// replies carry and the flow puts back.
type pingFlow struct {
	conn   *icmp.PacketConn
	key    pingKey
	mac    tcpip.LinkAddress // the container's link address
	mu     sync.Mutex
	active time.Time
}

type pingKey struct {
	src, dst netip.Addr
	id       uint16
}

// pings are the network's ping flows.
type pings struct {
	mu     sync.Mutex
	flows  map[pingKey]*pingFlow
	warned bool // the host's refusal was logged
}

// handleICMP serves the ICMP packets from the container that the stack has
// no endpoint for: an echo request (ICMPv4 or ICMPv6) to an address outside
// the stack is sent from a host ICMP socket (an unprivileged one: the
// host's net.ipv4.ping_group_range, which governs both families, must hold
// the user's group), and the replies come back as the destination's.
// Where the host or the allow-list does not permit it, the container gets
// "communication administratively prohibited". It runs in the stack's
// receive path and does not wait.
func (n *Network) handleICMP(_ stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	e, ok := echoRequest(pkt)
	if !ok || n.cfg.IsGateway(e.dst) || n.cfg.IsDNS(e.dst) {
		return false // the stack answers for its own addresses
	}
	if _, ok := n.target(e.dst, 0); !ok {
		return false
	}
	if n.egress != nil {
		if v := n.egress.policy.Check(e.dst, 0); !v.Allowed {
			n.refuse("icmp", e.id, netip.AddrPortFrom(e.dst, 0), n.knownName(e.dst, v), v.Reason)
			n.prohibit(e)
			return true
		}
	}
	f, err := n.pingFlow(pingKey{src: e.src, dst: e.dst, id: e.id}, e.mac)
	if errors.Is(err, errTooManyPings) {
		return true
	}
	if err != nil {
		n.prohibit(e)
		return true
	}
	var typ icmp.Type = xipv4.ICMPTypeEcho
	if e.dst.Is6() {
		typ = xipv6.ICMPTypeEchoRequest
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(e.id), Seq: int(e.seq), Data: e.data}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return true
	}
	f.mu.Lock()
	f.active = time.Now()
	f.mu.Unlock()
	if _, err := f.conn.WriteTo(b, &net.UDPAddr{IP: e.dst.AsSlice()}); err != nil {
		slog.Debug("ping: send", "dst", e.dst, "err", err)
	}
	return true
}

// echo is an echo request of the container's.
type echo struct {
	src, dst netip.Addr
	id, seq  uint16
	data     []byte
	mac      tcpip.LinkAddress // the container's link address
	// quote is the start of the request as an ICMP error quotes it: its
	// IP header and the 8 bytes after.
	quote []byte
}

// echoRequest returns the echo request pkt holds, if it is one.
func echoRequest(pkt *stack.PacketBuffer) (echo, bool) {
	var e echo
	th := pkt.TransportHeader().Slice()
	nh := pkt.NetworkHeader().Slice()
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		h := header.ICMPv4(th)
		if len(h) < header.ICMPv4MinimumSize || h.Type() != header.ICMPv4Echo {
			return e, false
		}
		ip := header.IPv4(nh)
		e.src, e.dst, e.id, e.seq = toAddr(ip.SourceAddress()), toAddr(ip.DestinationAddress()), h.Ident(), h.Sequence()
		e.quote = append(append([]byte{}, ip[:ip.HeaderLength()]...), h[:header.ICMPv4MinimumSize]...)
	case header.IPv6ProtocolNumber:
		h := header.ICMPv6(th)
		if len(h) < header.ICMPv6EchoMinimumSize || h.Type() != header.ICMPv6EchoRequest {
			return e, false
		}
		ip := header.IPv6(nh)
		e.src, e.dst, e.id, e.seq = toAddr(ip.SourceAddress()), toAddr(ip.DestinationAddress()), h.Ident(), h.Sequence()
		e.quote = append(append([]byte{}, ip[:header.IPv6MinimumSize]...), h[:header.ICMPv6EchoMinimumSize]...)
	default:
		return e, false
	}
	if eth := header.Ethernet(pkt.LinkHeader().Slice()); len(eth) >= header.EthernetMinimumSize {
		e.mac = eth.SourceAddress()
	}
	e.data = pkt.Data().AsRange().ToSlice()
	return e, true
}

var errTooManyPings = errors.New("too many ping flows")

// pingFlow returns the flow of key, opening its host socket (and starting
// its reader) on its first request.
func (n *Network) pingFlow(key pingKey, mac tcpip.LinkAddress) (*pingFlow, error) {
	p := &n.pings
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.flows[key]; f != nil {
		return f, nil
	}
	if len(p.flows) >= maxPingFlows {
		return nil, errTooManyPings
	}
	network, laddr := "udp4", "0.0.0.0"
	if key.dst.Is6() {
		network, laddr = "udp6", "::"
	}
	conn, err := icmp.ListenPacket(network, laddr)
	if err != nil {
		if !p.warned {
			p.warned = true
			slog.Warn(pingRefusal(err))
		}
		return nil, err
	}
	f := &pingFlow{conn: conn, key: key, mac: mac, active: time.Now()}
	if !n.goTracked(func() { n.readPings(f) }, conn) {
		return nil, net.ErrClosed
	}
	if p.flows == nil {
		p.flows = map[pingKey]*pingFlow{}
	}
	p.flows[key] = f
	return f, nil
}

// pingRefusal says why the host refused an ICMP socket.
func pingRefusal(err error) string {
	if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		return fmt.Sprintf("ping from the container: host ICMP socket: %v", err)
	}
	r, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	return fmt.Sprintf("ping from the container: not permitted by this host (net.ipv4.ping_group_range is %q, without group %d)", strings.Join(strings.Fields(string(r)), " "), os.Getgid())
}

// readPings passes the echo replies of f's socket back to the container
// until f is idle for pingIdle or the network closes.
func (n *Network) readPings(f *pingFlow) {
	defer func() {
		n.pings.mu.Lock()
		delete(n.pings.flows, f.key)
		n.pings.mu.Unlock()
		f.conn.Close()
	}()
	stop := context.AfterFunc(n.ctx, func() { f.conn.Close() })
	defer stop()
	buf := make([]byte, 65536)
	for {
		f.conn.SetReadDeadline(time.Now().Add(pingIdle))
		k, _, err := f.conn.ReadFrom(buf)
		if err != nil {
			f.mu.Lock()
			idle := time.Since(f.active) >= pingIdle
			f.mu.Unlock()
			if errors.Is(err, os.ErrDeadlineExceeded) && !idle {
				continue
			}
			return
		}
		proto, reply := 1, icmp.Type(xipv4.ICMPTypeEchoReply)
		if f.key.dst.Is6() {
			proto, reply = 58, xipv6.ICMPTypeEchoReply
		}
		m, err := icmp.ParseMessage(proto, buf[:k])
		if err != nil || m.Type != reply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok {
			continue
		}
		f.mu.Lock()
		f.active = time.Now()
		f.mu.Unlock()
		n.writeICMP(f.mac, f.key.dst, f.key.src, echoReply(f.key, uint16(e.Seq), e.Data))
	}
}

// echoReply is the ICMP echo reply to the container's request of key,
// from its destination, without its checksum (see writeICMP).
func echoReply(key pingKey, seq uint16, data []byte) []byte {
	b := make([]byte, 8+len(data))
	if key.dst.Is4() {
		b[0] = byte(header.ICMPv4EchoReply)
	} else {
		b[0] = byte(header.ICMPv6EchoReply)
	}
	b[4], b[5] = byte(key.id>>8), byte(key.id)
	b[6], b[7] = byte(seq>>8), byte(seq)
	copy(b[8:], data)
	return b
}

// prohibit answers an echo request with "destination unreachable:
// communication administratively prohibited".
func (n *Network) prohibit(e echo) {
	msg := make([]byte, 8+len(e.quote))
	if e.dst.Is4() {
		msg[0], msg[1] = byte(header.ICMPv4DstUnreachable), byte(header.ICMPv4AdminProhibited)
	} else {
		msg[0], msg[1] = byte(header.ICMPv6DstUnreachable), byte(header.ICMPv6Prohibited)
	}
	copy(msg[8:], e.quote)
	n.writeICMP(e.mac, e.dst, e.src, msg)
}

// writeICMP sends an ICMP message (its checksum still to compute) from src
// to dst on the tap, in an IPv4 or IPv6 packet as their family says, as a
// frame from the gateway's link address to mac.
func (n *Network) writeICMP(mac tcpip.LinkAddress, src, dst netip.Addr, msg []byte) {
	if mac == "" {
		return
	}
	ipLen, ethType := header.IPv4MinimumSize, header.IPv4ProtocolNumber
	if src.Is6() {
		ipLen, ethType = header.IPv6MinimumSize, header.IPv6ProtocolNumber
	}
	frame := make([]byte, header.EthernetMinimumSize+ipLen+len(msg))
	header.Ethernet(frame).Encode(&header.EthernetFields{SrcAddr: gatewayMAC, DstAddr: mac, Type: ethType})
	body := frame[header.EthernetMinimumSize+ipLen:]
	copy(body, msg)
	if src.Is4() {
		ip := header.IPv4(frame[header.EthernetMinimumSize:])
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(ipLen + len(msg)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
			SrcAddr: addr(src), DstAddr: addr(dst),
		})
		ip.SetChecksum(^ip.CalculateChecksum())
		header.ICMPv4(body).SetChecksum(^checksum.Checksum(body, 0))
	} else {
		ip := header.IPv6(frame[header.EthernetMinimumSize:])
		ip.Encode(&header.IPv6Fields{
			PayloadLength: uint16(len(msg)), TransportProtocol: header.ICMPv6ProtocolNumber, HopLimit: 64,
			SrcAddr: addr(src), DstAddr: addr(dst),
		})
		h := header.ICMPv6(body)
		h.SetChecksum(header.ICMPv6Checksum(header.ICMPv6ChecksumParams{
			Header: h[:header.ICMPv6MinimumSize], Src: addr(src), Dst: addr(dst),
			PayloadCsum: checksum.Checksum(body[header.ICMPv6MinimumSize:], 0), PayloadLen: len(body) - header.ICMPv6MinimumSize,
		}))
	}
	if _, err := unix.Write(int(n.tap.Fd()), frame); err != nil {
		slog.Debug("ping: write to the tap", "err", err)
	}
}
