package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultMTU is the MTU of the tap device and of the stack, as slirp4netns
// uses with podman: large frames cut the per-packet cost of a userspace stack.
const DefaultMTU = 65520

// Config describes the network given to a container.
type Config struct {
	// CIDR is the subnet of the tap link. The container gets host number
	// 100 of it, the gateway number 2 and the DNS forwarder number 3.
	// It must be IPv4 with a prefix of at most 25 bits.
	CIDR netip.Prefix
	// MTU is the MTU of the tap device and of the stack's link.
	MTU int
	// AllowHostLoopback makes the gateway address reach the host's
	// 127.0.0.1. When false, the host's loopback is unreachable.
	AllowHostLoopback bool
	// DNS lists the host-side resolvers that queries to the DNS address are
	// relayed to, as "IP" or "IP:port" ("[IPv6]:port"). Empty means the
	// nameservers of the host's /etc/resolv.conf. UDP queries try each in
	// turn; DNS over TCP goes to the first.
	DNS []string
	// Ports lists the published ports, as [Listeners.Ports] gives them:
	// what a network stack in another process is told of the sockets it
	// is handed (see cmd/rless-netstack). slirp.Start forwards whatever
	// Listeners it is given.
	Ports []PortMapping `json:",omitempty"`
	// Egress, if not nil, limits the connections the container may open
	// (see Egress).
	Egress *Egress `json:",omitempty"`
	// NoIPv6 leaves the link IPv4 only. Otherwise the container also
	// gets ContainerAddr6, a default route via Gateway6, and reaches
	// the IPv6 destinations the host reaches (NAT66).
	NoIPv6 bool `json:",omitempty"`
}

// Subnet6 is the IPv6 subnet of the tap link (a unique local one, of
// rless's own so as not to meet fd00::/64, which hosts use): the container
// is ::100 in it, the gateway ::2 and the DNS forwarder ::3, as slirp4netns
// numbers fd00::/64.
var Subnet6 = netip.MustParsePrefix("fd72:6c65:7373::/64")

// ContainerAddr6 returns the container's IPv6 address, with its prefix.
func (cfg Config) ContainerAddr6() netip.Prefix { return host6(0x100) }

// Gateway6 returns the gateway's IPv6 address.
func (cfg Config) Gateway6() netip.Addr { return host6(2).Addr() }

// DNSAddr6 returns the IPv6 address of the DNS forwarder.
func (cfg Config) DNSAddr6() netip.Addr { return host6(3).Addr() }

func host6(n uint16) netip.Prefix {
	b := Subnet6.Addr().As16()
	b[14], b[15] = byte(n>>8), byte(n)
	return netip.PrefixFrom(netip.AddrFrom16(b), Subnet6.Bits())
}

// IsGateway reports whether a is the gateway's address (IPv4 or IPv6).
func (cfg Config) IsGateway(a netip.Addr) bool {
	return a == cfg.Gateway() || !cfg.NoIPv6 && a == cfg.Gateway6()
}

// IsDNS reports whether a is the DNS forwarder's address (IPv4 or IPv6).
func (cfg Config) IsDNS(a netip.Addr) bool {
	return a == cfg.DNSAddr() || !cfg.NoIPv6 && a == cfg.DNSAddr6()
}

// OnLink reports whether a is in one of the link's subnets.
func (cfg Config) OnLink(a netip.Addr) bool {
	return cfg.CIDR.Contains(a) || !cfg.NoIPv6 && Subnet6.Contains(a)
}

// DefaultConfig returns podman's defaults: 10.0.2.0/24, MTU 65520, host
// loopback unreachable, the host's resolvers.
func DefaultConfig() Config {
	return Config{CIDR: netip.MustParsePrefix("10.0.2.0/24"), MTU: DefaultMTU}
}

// ContainerAddr returns the container's address in cfg.CIDR, with its prefix.
func (cfg Config) ContainerAddr() netip.Prefix { return cfg.host(100) }

// Gateway returns the gateway's address in cfg.CIDR.
func (cfg Config) Gateway() netip.Addr { return cfg.host(2).Addr() }

// DNSAddr returns the address of the DNS forwarder in cfg.CIDR.
func (cfg Config) DNSAddr() netip.Addr { return cfg.host(3).Addr() }

func (cfg Config) host(n byte) netip.Prefix {
	b := cfg.CIDR.Masked().Addr().As4()
	b[3] += n
	return netip.PrefixFrom(netip.AddrFrom4(b), cfg.CIDR.Bits())
}

// Validate checks cfg and fills in the zero MTU.
func (cfg *Config) Validate() error {
	if !cfg.CIDR.IsValid() || !cfg.CIDR.Addr().Is4() || cfg.CIDR.Bits() > 25 || cfg.CIDR.Bits() < 1 {
		return fmt.Errorf("network: cidr %v: want an IPv4 subnet of at least 128 addresses", cfg.CIDR)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 1280 || cfg.MTU > 65520 {
		return fmt.Errorf("network: mtu %d: want 1280..65520", cfg.MTU)
	}
	if cfg.Egress != nil {
		if err := cfg.Egress.Validate(); err != nil {
			return fmt.Errorf("network: egress: %w", err)
		}
	}
	return nil
}

// ParseOptions parses the options of podman's slirp4netns network mode, the
// part after "slirp4netns:" (or "slirp:"): comma-separated key=value pairs among
// allow_host_loopback=true|false, mtu=N, cidr=A.B.C.D/N and resolver=IP[:PORT]
// (a DNS server to relay the container's queries to instead of the host's
// resolv.conf ones; repeatable). Unset keys keep
// the values of [DefaultConfig]. An empty string yields the defaults.
func ParseOptions(s string) (Config, error) {
	cfg := DefaultConfig()
	if s == "" {
		return cfg, nil
	}
	for opt := range strings.SplitSeq(s, ",") {
		key, val, ok := strings.Cut(opt, "=")
		if !ok {
			return cfg, fmt.Errorf("slirp option %q: want key=value", opt)
		}
		var err error
		switch key {
		case "allow_host_loopback":
			cfg.AllowHostLoopback, err = strconv.ParseBool(val)
		case "enable_ipv6":
			var on bool
			on, err = strconv.ParseBool(val)
			cfg.NoIPv6 = !on
		case "mtu":
			cfg.MTU, err = strconv.Atoi(val)
		case "cidr":
			cfg.CIDR, err = netip.ParsePrefix(val)
			cfg.CIDR = cfg.CIDR.Masked()
		case "resolver":
			if _, perr := netip.ParseAddrPort(val); perr != nil {
				if _, perr = netip.ParseAddr(val); perr != nil {
					err = errors.New("want IP or IP:PORT ([IPv6]:PORT)")
				}
			}
			cfg.DNS = append(cfg.DNS, val)
		default:
			return cfg, fmt.Errorf("slirp option %q: unknown key %q (known: allow_host_loopback, enable_ipv6, mtu, cidr, resolver)", opt, key)
		}
		if err != nil {
			return cfg, fmt.Errorf("slirp option %q: %w", opt, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// PortMapping is one published port.
type PortMapping struct {
	// HostIP is the host address to listen on; the zero Addr means all.
	HostIP netip.Addr
	// HostPort is the host port; 0 lets the kernel pick one.
	HostPort uint16
	// ContainerPort is the port in the container that traffic goes to.
	ContainerPort uint16
	// Protocol is "tcp" or "udp".
	Protocol string
}

// BindIP returns the host address m listens on: HostIP, or 0.0.0.0 when
// that is unset (all addresses).
func (m PortMapping) BindIP() netip.Addr {
	if m.HostIP.IsValid() {
		return m.HostIP
	}
	return netip.IPv4Unspecified()
}

// String formats m as podman does: [hostIP:]hostPort:containerPort/proto.
func (m PortMapping) String() string {
	s := fmt.Sprintf("%d:%d/%s", m.HostPort, m.ContainerPort, m.Protocol)
	if m.HostIP.IsValid() {
		s = netip.AddrPortFrom(m.HostIP, m.HostPort).String() + fmt.Sprintf(":%d/%s", m.ContainerPort, m.Protocol)
	}
	return s
}

// hostAddr is the host address m listens on, as "IP:port".
func (m PortMapping) hostAddr() string {
	if !m.HostIP.IsValid() {
		return fmt.Sprintf(":%d", m.HostPort)
	}
	return netip.AddrPortFrom(m.HostIP, m.HostPort).String()
}

// ParsePublish parses one --publish argument,
// [hostIP:][hostPort]:containerPort[/tcp|/udp] or containerPort[/proto], where
// both ports may be equal-length ranges (8000-8002:80-82). An IPv6 hostIP is
// written in brackets. An omitted host port means the kernel picks one (for a
// range, it is then a range of picked ports). It returns one mapping per port.
func ParsePublish(s string) ([]PortMapping, error) {
	fail := func(format string, a ...any) ([]PortMapping, error) {
		return nil, fmt.Errorf("publish %q: %s", s, fmt.Sprintf(format, a...))
	}
	rest, proto, _ := strings.Cut(s, "/")
	switch proto {
	case "":
		proto = "tcp"
	case "tcp", "udp":
	default:
		return fail("unknown protocol %q (want tcp or udp)", proto)
	}
	var hostIP netip.Addr
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return fail("unterminated IPv6 address")
		}
		ip, err := netip.ParseAddr(rest[1:end])
		if err != nil {
			return fail("host IP: %v", err)
		}
		hostIP, rest = ip, rest[end+2:]
	}
	parts := strings.Split(rest, ":")
	var hostPorts, ctrPorts string
	switch len(parts) {
	case 1:
		ctrPorts = parts[0]
	case 2:
		hostPorts, ctrPorts = parts[0], parts[1]
	case 3:
		if hostIP.IsValid() {
			return fail("too many colons")
		}
		ip, err := netip.ParseAddr(parts[0])
		if err != nil {
			return fail("host IP: %v", err)
		}
		hostIP, hostPorts, ctrPorts = ip, parts[1], parts[2]
	default:
		return fail("want [hostIP:][hostPort:]containerPort[/proto]")
	}
	clo, chi, err := parseRange(ctrPorts)
	if err != nil {
		return fail("container port: %v", err)
	}
	hlo, hhi := uint16(0), uint16(0)
	if hostPorts != "" {
		if hlo, hhi, err = parseRange(hostPorts); err != nil {
			return fail("host port: %v", err)
		}
		if hhi-hlo != chi-clo {
			return fail("host range %s and container range %s differ in length", hostPorts, ctrPorts)
		}
	}
	var ms []PortMapping
	for i := 0; i <= int(chi-clo); i++ {
		m := PortMapping{HostIP: hostIP, ContainerPort: clo + uint16(i), Protocol: proto}
		if hostPorts != "" {
			m.HostPort = hlo + uint16(i)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// parseRange parses "N" or "N-M" with 1 <= N <= M <= 65535.
func parseRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	l, err := strconv.ParseUint(a, 10, 16)
	if err != nil || l == 0 {
		return 0, 0, fmt.Errorf("bad port %q", a)
	}
	h := l
	if isRange {
		if h, err = strconv.ParseUint(b, 10, 16); err != nil || h < l {
			return 0, 0, fmt.Errorf("bad port range %q", s)
		}
	}
	return uint16(l), uint16(h), nil
}

// TapName is the name of the container's tap device.
const TapName = "tap0"

// TapString returns what the container's side needs of cfg to make its
// tap device (subnets and MTU), encoded for ParseTap.
func (cfg Config) TapString() string {
	data, _ := json.Marshal(Config{CIDR: cfg.CIDR, MTU: cfg.MTU, NoIPv6: cfg.NoIPv6})
	return string(data)
}

// ParseTap parses what TapString returns.
func ParseTap(v string) (Config, error) {
	var cfg Config
	if err := json.Unmarshal([]byte(v), &cfg); err != nil {
		return cfg, fmt.Errorf("tap configuration: %w", err)
	}
	return cfg, cfg.Validate()
}
