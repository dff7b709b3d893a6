package slirp

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/rless/rless/pkg/network"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

const nicID tcpip.NICID = 1

// gatewayMAC is the stack's link address, slirp's usual one.
const gatewayMAC = tcpip.LinkAddress("\x52\x55\x0a\x00\x02\x02")

// Network is a running userspace network: gVisor's netstack attached to a
// container's tap device, relaying to host sockets. Stop it with Close.
type Network struct {
	cfg       network.Config
	resolvers []string
	tap       *os.File
	link      *tapLink
	stack     *stack.Stack
	listeners *network.Listeners
	egress    *egress                 // the allow-list (Config.Egress); nil: none
	pid       atomic.Int64            // the container's first process (SetContainerPID)
	pings     pings                   // echo requests relayed through host ICMP sockets
	relaySock atomic.Pointer[os.File] // the host's end of the container's relay (SetRelay)

	ctx    context.Context // done when the network closes
	cancel context.CancelFunc
	stop   func() bool // unregisters the AfterFunc on the Start context

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // every goroutine this package started
	once   sync.Once
}

// Start runs a userspace network on tap, the file returned by [network.CreateTap]
// (received from the container's namespace), configured by cfg, and forwards
// the published ports of l (which may be nil) into the container. It takes
// ownership of tap and l: Close closes them, and so does Start when it fails.
//
// The network runs until Close is called; it is also closed when ctx is done.
func Start(ctx context.Context, tap *os.File, cfg network.Config, l *network.Listeners) (*Network, error) {
	n, err := start(tap, cfg, l)
	if err != nil {
		tap.Close()
		l.Close()
		return nil, err
	}
	n.mu.Lock()
	n.stop = context.AfterFunc(ctx, func() { n.Close() })
	n.mu.Unlock()
	return n, nil
}

func start(tap *os.File, cfg network.Config, l *network.Listeners) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	resolvers, err := hostResolvers(cfg.DNS)
	if err != nil {
		return nil, err
	}
	eg, err := newEgress(cfg)
	if err != nil {
		return nil, err
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	if err := tuneTCP(s); err != nil {
		eg.close()
		s.Destroy()
		return nil, err
	}
	ep, err := fdbased.New(&fdbased.Options{
		FDs:                []int{int(tap.Fd())},
		MTU:                uint32(cfg.MTU),
		EthernetHeader:     true,
		Address:            gatewayMAC,
		RXChecksumOffload:  true,
		PacketDispatchMode: fdbased.Readv,
		// Its reader is not used (see tapLink); with one processor per
		// channel it starts no goroutines for it either.
		ProcessorsPerChannel: 1,
	})
	if err != nil {
		eg.close()
		s.Destroy()
		return nil, fmt.Errorf("slirp: tap endpoint: %w", err)
	}
	link, err := newTapLink(ep, tap, cfg.MTU)
	if err != nil {
		eg.close()
		s.Destroy()
		return nil, err
	}
	n := &Network{cfg: cfg, resolvers: resolvers, tap: tap, link: link, stack: s, listeners: l, egress: eg}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	// The handlers must be in place before the NIC starts delivering.
	tcpFwd := tcp.NewForwarder(s, 0, 1024, n.handleTCP)
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, tcpFwd.HandlePacket)
	udpFwd := udp.NewForwarder(s, n.handleUDP)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, udpFwd.HandlePacket)
	s.SetTransportProtocolHandler(icmp.ProtocolNumber4, n.handleICMP)
	s.SetTransportProtocolHandler(icmp.ProtocolNumber6, n.handleICMP)
	if err := setupNIC(s, link, cfg); err != nil {
		link.Attach(nil) // if the NIC was not made
		eg.close()
		n.cancel()
		s.Destroy()
		return nil, err
	}
	if eg != nil && eg.log != nil {
		n.goTracked(n.logRefusals, eg.log)
	}
	if l != nil {
		for _, pl := range l.TCP {
			n.goTracked(func() { n.serveTCP(pl) }, nil)
		}
		for _, pc := range l.UDP {
			n.goTracked(func() { n.serveUDP(pc) }, nil)
		}
	}
	return n, nil
}

// tuneTCP sets the netstack's TCP options for throughput over a local link.
func tuneTCP(s *stack.Stack) error {
	sack := tcpip.TCPSACKEnabled(true)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	delay := tcpip.TCPDelayEnabled(false)
	cc := tcpip.CongestionControlOption("cubic")
	// Auto-tuned buffers up to 8 MiB: with 4 MiB throughput drops by a
	// fifth, beyond 8 MiB it no longer grows while memory does.
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &moderate, &delay, &cc, &snd, &rcv} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			return fmt.Errorf("slirp: set TCP option %T: %s", opt, err)
		}
	}
	return nil
}

// setupNIC attaches ep as the stack's only NIC, answering for the gateway
// and DNS addresses (IPv4, and IPv6 unless cfg.NoIPv6) and accepting
// traffic to any address (NAT).
func setupNIC(s *stack.Stack, ep stack.LinkEndpoint, cfg network.Config) error {
	if err := s.CreateNICWithOptions(nicID, ep, stack.NICOptions{Name: "tap"}); err != nil {
		return fmt.Errorf("slirp: create NIC: %s", err)
	}
	addrs := []tcpip.ProtocolAddress{
		{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr(cfg.Gateway()), PrefixLen: cfg.CIDR.Bits()}},
		{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr(cfg.DNSAddr()), PrefixLen: cfg.CIDR.Bits()}},
	}
	routes := []tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nicID}}
	if !cfg.NoIPv6 {
		addrs = append(addrs,
			tcpip.ProtocolAddress{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr(cfg.Gateway6()), PrefixLen: network.Subnet6.Bits()}},
			tcpip.ProtocolAddress{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr(cfg.DNSAddr6()), PrefixLen: network.Subnet6.Bits()}})
		routes = append(routes, tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: nicID})
	}
	for _, pa := range addrs {
		if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return fmt.Errorf("slirp: add address %s: %s", pa.AddressWithPrefix.Address, err)
		}
	}
	if err := s.SetPromiscuousMode(nicID, true); err != nil {
		return fmt.Errorf("slirp: promiscuous mode: %s", err)
	}
	if err := s.SetSpoofing(nicID, true); err != nil {
		return fmt.Errorf("slirp: spoofing: %s", err)
	}
	s.SetRouteTable(routes)
	return nil
}

// goTracked runs f in a goroutine that Close waits for, unless the network
// is already closing: then it closes c instead (if not nil), which f would
// have owned. It reports whether f was started.
func (n *Network) goTracked(f func(), c io.Closer) bool {
	if !n.track() {
		if c != nil {
			c.Close()
		}
		return false
	}
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// track counts one more running goroutine, unless the network is closing.
func (n *Network) track() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// Close stops the network: it closes the published ports, every relayed
// connection, the stack and the tap, and returns once all goroutines of the
// network have ended. It may be called more than once.
func (n *Network) Close() error {
	var err error
	n.once.Do(func() {
		n.mu.Lock()
		n.closed = true
		stop := n.stop
		n.mu.Unlock()
		if stop != nil {
			stop()
		}
		n.cancel()
		err = n.listeners.Close()
		if sock := n.relaySock.Swap(nil); sock != nil {
			sock.Close()
		}
		n.stack.Close()
		n.wg.Wait()
		n.stack.Wait()
		// After Stack.Wait, which removes the NIC (stopping the tap's
		// reader) with the stack's lock held: the reader may need that
		// lock to finish the frame it is handing over.
		n.link.waitReader()
		if cerr := n.tap.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("slirp: close tap: %w", cerr)
		}
	})
	return err
}
