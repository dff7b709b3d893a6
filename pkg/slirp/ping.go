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
// no endpoint for: an echo request to an address outside the stack is
// sent from a host ICMP socket (an unprivileged one: the host's
// net.ipv4.ping_group_range must hold the user's group), and the replies
// come back as the destination's. Where the host or the allow-list does not
// permit it, the container gets "communication administratively
// prohibited". It runs in the stack's receive path and does not wait.
func (n *Network) handleICMP(_ stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	h := header.ICMPv4(pkt.TransportHeader().Slice())
	if len(h) < header.ICMPv4MinimumSize || h.Type() != header.ICMPv4Echo {
		return false
	}
	ip := header.IPv4(pkt.NetworkHeader().Slice())
	src, dst := toAddr(ip.SourceAddress()), toAddr(ip.DestinationAddress())
	if n.cfg.IsGateway(dst) || n.cfg.IsDNS(dst) {
		return false // the stack answers for its own addresses
	}
	var mac tcpip.LinkAddress
	if eth := header.Ethernet(pkt.LinkHeader().Slice()); len(eth) >= header.EthernetMinimumSize {
		mac = eth.SourceAddress()
	}
	data := pkt.Data().AsRange().ToSlice()
	if _, ok := n.target(dst, 0); !ok {
		return false
	}
	if n.egress != nil {
		if v := n.egress.policy.Check(dst, 0); !v.Allowed {
			n.refuse("icmp", h.Ident(), netip.AddrPortFrom(dst, 0), n.knownName(dst, v), v.Reason)
			n.prohibit(mac, ip, h)
			return true
		}
	}
	key := pingKey{src: src, dst: dst, id: h.Ident()}
	f, err := n.pingFlow(key, mac)
	if errors.Is(err, errTooManyPings) {
		return true
	}
	if err != nil {
		n.prohibit(mac, ip, h)
		return true
	}
	msg := icmp.Message{Type: xipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: int(h.Ident()), Seq: int(h.Sequence()), Data: data}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return true
	}
	f.mu.Lock()
	f.active = time.Now()
	f.mu.Unlock()
	if _, err := f.conn.WriteTo(b, &net.UDPAddr{IP: dst.AsSlice()}); err != nil {
		slog.Debug("ping: send", "dst", dst, "err", err)
	}
	return true
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
	conn, err := icmp.ListenPacket("udp4", "0.0.0.0")
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
		m, err := icmp.ParseMessage(1, buf[:k])
		if err != nil || m.Type != xipv4.ICMPTypeEchoReply {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok {
			continue
		}
		f.mu.Lock()
		f.active = time.Now()
		f.mu.Unlock()
		reply := make([]byte, header.ICMPv4MinimumSize+len(echo.Data))
		icmpH := header.ICMPv4(reply)
		icmpH.SetType(header.ICMPv4EchoReply)
		icmpH.SetIdent(f.key.id)
		icmpH.SetSequence(uint16(echo.Seq))
		copy(icmpH.Payload(), echo.Data)
		icmpH.SetChecksum(^checksum.Checksum(reply, 0))
		n.writeIPv4(f.mac, f.key.dst, f.key.src, reply)
	}
}

// prohibit answers an echo request with "destination unreachable:
// communication administratively prohibited".
func (n *Network) prohibit(mac tcpip.LinkAddress, ip header.IPv4, h header.ICMPv4) {
	// The original IP header and the first 8 bytes of its payload.
	orig := append(append([]byte{}, ip[:ip.HeaderLength()]...), h[:header.ICMPv4MinimumSize]...)
	msg := make([]byte, header.ICMPv4MinimumSize+len(orig))
	icmpH := header.ICMPv4(msg)
	icmpH.SetType(header.ICMPv4DstUnreachable)
	icmpH.SetCode(header.ICMPv4AdminProhibited)
	copy(msg[header.ICMPv4MinimumSize:], orig)
	icmpH.SetChecksum(^checksum.Checksum(msg, 0))
	n.writeIPv4(mac, toAddr(ip.DestinationAddress()), toAddr(ip.SourceAddress()), msg)
}

// writeIPv4 sends an ICMP message from src to dst on the tap, as a frame
// from the gateway's link address to mac.
func (n *Network) writeIPv4(mac tcpip.LinkAddress, src, dst netip.Addr, icmpMsg []byte) {
	if mac == "" {
		return
	}
	frame := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+len(icmpMsg))
	header.Ethernet(frame).Encode(&header.EthernetFields{SrcAddr: gatewayMAC, DstAddr: mac, Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(header.IPv4MinimumSize + len(icmpMsg)),
		TTL:         64,
		Protocol:    uint8(header.ICMPv4ProtocolNumber),
		SrcAddr:     addr(src),
		DstAddr:     addr(dst),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(frame[header.EthernetMinimumSize+header.IPv4MinimumSize:], icmpMsg)
	if _, err := unix.Write(int(n.tap.Fd()), frame); err != nil {
		slog.Debug("ping: write to the tap", "err", err)
	}
}
