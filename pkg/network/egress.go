package network

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// HostGatewayName is the name that, in an [Egress] entry, stands for the
// gateway address: the host's loopback, as the container's /etc/hosts
// names it.
const HostGatewayName = "host.containers.internal"

// Egress is a network allow-list: the connections a container may open.
// Everything it does not allow is refused, except DNS queries to the DNS
// address, which are answered for the names it allows only.
type Egress struct {
	// Allow lists HOST[:PORT] entries; PORT (1-65535) limits an entry to
	// that port, TCP or UDP. HOST is one of:
	//   - a DNS name, example.com, which may then be resolved through the
	//     DNS address and connected to at the addresses its answers give;
	//   - *.example.com, any name under example.com at any depth (not
	//     example.com itself);
	//   - an IP address (an IPv6 one in brackets when a port follows,
	//     [fd00::1]:443) or a CIDR prefix (10.0.0.0/8, fd00::/64), which
	//     may be connected to whatever name the connection carries;
	//   - host.containers.internal (or the gateway address itself): the
	//     host's loopback, reached at the gateway address (with Egress,
	//     Config.AllowHostLoopback alone does not open it).
	// Names are case-insensitive and a trailing dot is ignored. Loopback,
	// private, link-local, CGNAT, multicast and the network's own
	// addresses are refused unless an IP or CIDR entry names them (the
	// gateway only by its own entry, not by a CIDR covering it), and a
	// name resolving to one of them is not allowed there.
	Allow []string
	// Log is a file that refused attempts are appended to, one line each
	// ("" none). It must be an absolute path.
	Log string
}

// Validate checks e's entries and log path.
func (e *Egress) Validate() error {
	if _, err := parseRules(e.Allow); err != nil {
		return err
	}
	if e.Log != "" && !filepath.IsAbs(e.Log) {
		return fmt.Errorf("log %q: want an absolute path", e.Log)
	}
	return nil
}

// OpensHostLoopback reports whether an entry of e allows the gateway of
// cfg's network, the host's loopback (on some port): the container's
// host.containers.internal is the gateway then.
func (e *Egress) OpensHostLoopback(cfg Config) bool {
	rules, err := parseRules(e.Allow)
	if err != nil {
		return false
	}
	gw := cfg.Gateway()
	return slices.ContainsFunc(rules, func(r rule) bool {
		return r.kind == ruleGateway || r.kind == rulePrefix && r.prefix.IsSingleIP() && r.prefix.Addr() == gw
	})
}

// Policy returns the allow-list of e applied to cfg's network (which
// gives the gateway, DNS and link addresses). It fails if an entry does.
func (e *Egress) Policy(cfg Config) (*Policy, error) {
	rules, err := parseRules(e.Allow)
	if err != nil {
		return nil, err
	}
	return &Policy{
		rules:   rules,
		link:    cfg.CIDR.Masked(),
		gateway: cfg.Gateway(),
		dns:     cfg.DNSAddr(),
		learned: map[netip.Addr][]string{},
	}, nil
}

// The reasons a [Verdict] gives for a refusal.
const (
	// ReasonNotAllowed: no entry allows the destination.
	ReasonNotAllowed = "not-allowed"
	// ReasonPrivate: the destination is a loopback, private, link-local,
	// CGNAT, multicast or unspecified address, or one of the network's
	// own, which no IP or CIDR entry names.
	ReasonPrivate = "private-address"
	// ReasonPort: the destination was learned from the answer for an
	// allowed name, but not for this port.
	ReasonPort = "port-not-allowed"
)

// Verdict is a [Policy]'s decision about a connection.
type Verdict struct {
	// Allowed says whether the connection may be made.
	Allowed bool
	// Reason is a short token saying why it is refused ("" if allowed).
	Reason string
	// Name is the DNS name the destination is known by: one of the
	// allowed names whose answers gave it ("" if none).
	Name string
	// Literal says that an IP or CIDR entry allows the destination: a
	// name the connection carries (TLS SNI, HTTP Host) is not checked.
	Literal bool
	// Learned says that the connection is allowed only because a DNS
	// answer for an allowed name gave the destination: a name the
	// connection carries must be one of those (see [Policy.CheckName]).
	Learned bool
	// DNS says that the destination is the DNS address, whose queries
	// are filtered by [Policy.AllowName].
	DNS bool
	// HostLoopback says that the destination is the gateway, which
	// reaches the host's loopback.
	HostLoopback bool
}

// Policy is an [Egress] allow-list in force on a network: its entries,
// and the addresses that DNS answers for allowed names gave, which it
// keeps for the network's lifetime. It is safe for concurrent use.
type Policy struct {
	rules   []rule
	link    netip.Prefix
	gateway netip.Addr
	dns     netip.Addr

	mu      sync.Mutex
	learned map[netip.Addr][]string // address → the allowed names whose answers gave it
}

// maxNamesPerAddr bounds the names an address is learned for.
const maxNamesPerAddr = 32

// AllowName reports whether name may be resolved: whether a name entry
// (exact or wildcard) allows it, on any port.
func (p *Policy) AllowName(name string) bool {
	name = normName(name)
	for _, r := range p.rules {
		if r.matchName(name) {
			return true
		}
	}
	return false
}

// allowNameOn reports whether a name entry allows name on port.
func (p *Policy) allowNameOn(name string, port uint16) bool {
	for _, r := range p.rules {
		if r.matchName(name) && r.matchPort(port) {
			return true
		}
	}
	return false
}

// Learn records addrs, the addresses a DNS answer for name gave, as
// reachable by name, if name is allowed. It learns no address that only
// an IP or CIDR entry could allow (loopback, private and the like:
// [ReasonPrivate]), and returns those it left out that way.
func (p *Policy) Learn(name string, addrs []netip.Addr) (refused []netip.Addr) {
	name = normName(name)
	if !p.AllowName(name) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() {
			continue
		}
		if p.special(a) {
			refused = append(refused, a)
			continue
		}
		names := p.learned[a]
		if len(names) < maxNamesPerAddr && !slices.Contains(names, name) {
			p.learned[a] = append(names, name)
		}
	}
	return refused
}

// Check decides whether the container may connect to dst:port (TCP or
// UDP: entries do not distinguish them).
func (p *Policy) Check(dst netip.Addr, port uint16) Verdict {
	dst = dst.Unmap()
	switch dst {
	case p.dns:
		if port == 53 {
			return Verdict{Allowed: true, DNS: true}
		}
	case p.gateway:
		for _, r := range p.rules {
			if r.matchPort(port) && (r.kind == ruleGateway || r.kind == rulePrefix && r.prefix.IsSingleIP() && r.prefix.Addr() == dst) {
				return Verdict{Allowed: true, Literal: true, HostLoopback: true}
			}
		}
		return Verdict{Reason: ReasonPrivate}
	}
	for _, r := range p.rules {
		if r.kind == rulePrefix && r.prefix.Contains(dst) && r.matchPort(port) {
			return Verdict{Allowed: true, Literal: true}
		}
	}
	if p.special(dst) {
		return Verdict{Reason: ReasonPrivate}
	}
	p.mu.Lock()
	names := p.learned[dst]
	p.mu.Unlock()
	for _, name := range names {
		if p.allowNameOn(name, port) {
			return Verdict{Allowed: true, Learned: true, Name: name}
		}
	}
	if len(names) > 0 {
		return Verdict{Reason: ReasonPort, Name: names[0]}
	}
	return Verdict{Reason: ReasonNotAllowed}
}

// CheckName reports whether name, sniffed on a connection to dst:port
// that [Policy.Check] allowed as Learned (the server name of a TLS
// ClientHello, an HTTP request's Host), is consistent with it: an
// allowed name on port whose DNS answers gave dst (else the connection
// would reach, say, a CDN's address learned for an allowed name while
// asking for another site). An IP address as name must be dst itself.
func (p *Policy) CheckName(dst netip.Addr, port uint16, name string) bool {
	dst = dst.Unmap()
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")); err == nil {
		return ip.Unmap() == dst
	}
	name = normName(name)
	p.mu.Lock()
	names := p.learned[dst]
	p.mu.Unlock()
	return slices.Contains(names, name) && p.allowNameOn(name, port)
}

// special reports whether a is an address that only an IP or CIDR entry
// may allow: not a public unicast address, or one of the network's.
func (p *Policy) special(a netip.Addr) bool {
	return p.link.Contains(a) || isSpecial(a)
}

// specialPrefixes are the ranges besides those netip.Addr's methods
// recognise that a DNS name must not lead to.
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// isSpecial reports whether a is loopback, private (RFC 1918, fc00::/7),
// link-local (169.254.0.0/16, which has the cloud metadata address, and
// fe80::/10), CGNAT, unspecified, multicast or reserved.
func isSpecial(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() ||
		a.IsMulticast() || a.IsInterfaceLocalMulticast() || a.IsLinkLocalMulticast() {
		return true
	}
	for _, p := range specialPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type ruleKind int

const (
	ruleName     ruleKind = iota // name: exact
	ruleWildcard                 // name: any subdomain of it
	rulePrefix                   // prefix: IP or CIDR
	ruleGateway                  // host.containers.internal
)

// rule is a parsed Allow entry.
type rule struct {
	kind   ruleKind
	name   string // ruleName, ruleWildcard (without "*.")
	prefix netip.Prefix
	port   uint16 // 0: any
}

func (r rule) matchPort(port uint16) bool { return r.port == 0 || r.port == port }

// matchName reports whether r is a name entry allowing name, normalised.
func (r rule) matchName(name string) bool {
	switch r.kind {
	case ruleName:
		return name == r.name
	case ruleWildcard:
		return len(name) > len(r.name)+1 && strings.HasSuffix(name, r.name) && name[len(name)-len(r.name)-1] == '.'
	}
	return false
}

// normName lower-cases name and drops a trailing dot.
func normName(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

func parseRules(entries []string) ([]rule, error) {
	rules := make([]rule, 0, len(entries))
	for _, e := range entries {
		r, err := parseRule(e)
		if err != nil {
			return nil, fmt.Errorf("allow %q: %w", e, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// parseRule parses one Allow entry.
func parseRule(s string) (rule, error) {
	var r rule
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return r, errors.New("unterminated [")
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return r, errors.New("want [IPv6]:PORT")
			}
			port = port[1:]
			if port == "" {
				return r, errors.New("empty port")
			}
		}
		if !strings.Contains(host, ":") {
			return r, errors.New("brackets are for IPv6 addresses only")
		}
	case strings.Count(s, ":") > 1:
		// A bare IPv6 address or prefix, without port.
	default:
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
			if port == "" {
				return r, errors.New("empty port")
			}
		}
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return r, fmt.Errorf("bad port %q: want 1-65535", port)
		}
		r.port = uint16(n)
	}
	if host == "" {
		return r, errors.New("empty host")
	}
	if strings.Contains(host, "/") {
		pfx, err := netip.ParsePrefix(host)
		if err != nil {
			return r, fmt.Errorf("bad CIDR prefix: %w", err)
		}
		if pfx.Addr().Is4In6() {
			return r, errors.New("IPv4-mapped prefix: write it in IPv4")
		}
		r.kind, r.prefix = rulePrefix, pfx.Masked()
		return r, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return r, errors.New("an address with a zone")
		}
		ip = ip.Unmap()
		r.kind, r.prefix = rulePrefix, netip.PrefixFrom(ip, ip.BitLen())
		return r, nil
	} else if strings.Contains(host, ":") {
		return r, fmt.Errorf("bad IPv6 address: %w", err)
	}
	name := normName(host)
	if name == HostGatewayName {
		r.kind = ruleGateway
		return r, nil
	}
	r.kind = ruleName
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		r.kind, name = ruleWildcard, rest
	}
	if err := checkName(name); err != nil {
		return r, err
	}
	r.name = name
	return r, nil
}

// checkName checks that name (lower-case, without trailing dot) is a DNS
// name: labels of letters, digits, hyphens and underscores.
func checkName(name string) error {
	if name == "" || name == "*" {
		return errors.New("want a name, *.name, an IP address or a CIDR prefix")
	}
	if len(name) > 253 {
		return errors.New("name longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return errors.New("empty label in name")
		}
		if len(l) > 63 {
			return fmt.Errorf("label %q longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q begins or ends with a hyphen", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				if c == '*' {
					return errors.New("a wildcard is allowed only as the first label (*.example.com)")
				}
				return fmt.Errorf("invalid character %q in name", c)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return errors.New("neither an IP address nor a name (a name's last label is not numeric)")
	}
	return nil
}
