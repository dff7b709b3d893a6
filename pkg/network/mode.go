package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// Kind is a kind of container network. Its values are those of package
// spec's Network* constants (spec.NetworkSlirp and so on), so that
// string(kind) is a spec.Options.Network.
type Kind string

// The kinds of network.
const (
	// KindSlirp is a network namespace of its own whose tap device is
	// served by rless's userspace stack (gVisor's netstack).
	KindSlirp Kind = "slirp"
	// KindNone is a network namespace of its own with only loopback.
	KindNone Kind = "none"
	// KindHost is the host's network namespace.
	KindHost Kind = "host"
	// KindSlirp4netns is a network namespace of its own connected by the
	// slirp4netns program.
	KindSlirp4netns Kind = "slirp4netns"
	// KindPasta is a network namespace of its own connected by the pasta
	// program (of passt).
	KindPasta Kind = "pasta"
)

// Own reports whether k gives the container a network of its own, whose
// ports can be published: every kind but none and host.
func (k Kind) Own() bool { return k != KindNone && k != KindHost }

// External reports whether a program of the host joins the container's
// network namespace from outside (slirp4netns, pasta).
func (k Kind) External() bool { return k == KindSlirp4netns || k == KindPasta }

// Mode is a container's network as the user asks for it, podman-style
// (--network, --publish, --publish-all): what [Open] makes a [Driver] of.
// [ParseMode] makes one; a program may also fill one in (Kind, Config and
// Ports are enough for the slirp kind).
type Mode struct {
	// Kind is the kind of network.
	Kind Kind
	// Config is the built-in stack's configuration (KindSlirp); for
	// KindSlirp4netns, the addresses slirp4netns gives the container
	// (the same defaults and options). Unused otherwise.
	Config Config
	// Program is the path of the external program (KindSlirp4netns,
	// KindPasta), found on PATH; empty means look it up by its name.
	Program string
	// Args are the external program's arguments, made from the mode's
	// options and published ports, without those that name the namespace
	// to join, which its driver adds.
	Args []string
	// Ports are the published ports. A host port of 0 lets the kernel
	// pick one (KindSlirp only); [Driver.Ports] says which.
	Ports []PortMapping
	// Discarded are ports that were asked for but cannot be published,
	// the kind having no network of its own (none, host): podman warns
	// about them and goes on.
	Discarded []PortMapping
}

// ErrUnknownMode is the error of a [ModeError] for a network mode that is
// none of those known.
var ErrUnknownMode = errors.New("want slirp[:OPTIONS], none, host, slirp4netns[:OPTIONS] or pasta[:ARGS]")

// ModeError is an error of [ParseMode] about the network mode itself
// rather than a published port, such as "network slirp:mtu=1: network:
// mtu 1: want 1280..65520". A command line may add its flag's dashes in
// front ("--network ...").
type ModeError struct {
	Network string // the mode as given, such as "slirp:mtu=1"
	Err     error
}

func (e *ModeError) Error() string {
	if errors.Is(e.Err, ErrUnknownMode) {
		return fmt.Sprintf("network %q: %v", e.Network, e.Err)
	}
	return fmt.Sprintf("network %s: %v", e.Network, e.Err)
}

func (e *ModeError) Unwrap() error { return e.Err }

// ParseMode parses a network mode as podman's --network takes it, with the
// ports to publish:
//
//   - slirp[:OPTIONS] (also "private", and the empty string): rless's
//     userspace network, with the options of [ParseOptions];
//   - none: loopback only; host: the host's network;
//   - slirp4netns[:OPTIONS]: the slirp4netns program, with podman's options
//     allow_host_loopback, cidr, mtu (as slirp's), enable_ipv6 and
//     port_handler (slirp4netns only);
//   - pasta[:ARGS]: the pasta program, ARGS being its own comma-separated
//     command-line arguments. The host's loopback is not reachable at the
//     gateway's address unless they say --map-gw, and no port is forwarded
//     that was not asked for.
//
// publish are --publish arguments (see [ParsePublish]); with publishAll,
// the image's exposed ports ("80/tcp" keys, as an OCI image config has
// them) are published on ports the kernel picks. The external programs
// need every host port given. Ports asked of none or host are moved to
// Mode.Discarded. An external program not found on PATH is an error.
func ParseMode(network string, publish []string, publishAll bool, exposed map[string]struct{}) (Mode, error) {
	kind, opts, _ := strings.Cut(network, ":")
	m := Mode{Kind: Kind(kind)}
	switch m.Kind {
	case KindSlirp, "private", "":
		m.Kind = KindSlirp
		cfg, err := ParseOptions(opts)
		if err != nil {
			return Mode{}, &ModeError{network, err}
		}
		m.Config = cfg
	case KindNone, KindHost:
		if opts != "" {
			return Mode{}, &ModeError{network, fmt.Errorf("%s takes no options", kind)}
		}
	case KindSlirp4netns, KindPasta:
		path, err := exec.LookPath(kind)
		if err != nil {
			return Mode{}, &ModeError{network, fmt.Errorf("%s is not installed", kind)}
		}
		m.Program = path
		if m.Kind == KindSlirp4netns {
			if m.Args, m.Config, err = slirp4netnsArgs(opts); err != nil {
				return Mode{}, &ModeError{network, err}
			}
		}
	default:
		return Mode{}, &ModeError{network, ErrUnknownMode}
	}
	for _, p := range publish {
		ms, err := ParsePublish(p)
		if err != nil {
			return Mode{}, err
		}
		m.Ports = append(m.Ports, ms...)
	}
	if publishAll {
		keys := make([]string, 0, len(exposed))
		for k := range exposed {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ms, err := ParsePublish(k)
			if err != nil {
				return Mode{}, fmt.Errorf("image's exposed port: %w", err)
			}
			m.Ports = append(m.Ports, ms...)
		}
	}
	if m.Kind.External() {
		for _, p := range m.Ports {
			if p.HostPort == 0 {
				return Mode{}, &ModeError{kind, fmt.Errorf("publish %s: give the host port", p)}
			}
		}
		if m.Kind == KindPasta {
			m.Args = pastaArgs(opts, m.Ports)
		}
	}
	if len(m.Ports) > 0 && !m.Kind.Own() {
		// As podman: the ports of a network not its own cannot be published.
		m.Discarded, m.Ports = m.Ports, nil
	}
	return m, nil
}

// Addrs are the addresses a container's /etc/hosts and /etc/resolv.conf
// give it on a network whose addresses rless chooses.
type Addrs struct {
	// Container is the container's own address.
	Container netip.Addr
	// DNS is the address of the DNS forwarder.
	DNS netip.Addr
	// Host is where the container reaches the host
	// (host.containers.internal): the gateway when the host's loopback
	// is reachable there (AllowHostLoopback, or an Egress entry opening
	// it), else the host's own address ([HostAddress]),
	// the zero Addr when it has none.
	Host netip.Addr
}

// Addrs returns the container's addresses for KindSlirp and
// KindSlirp4netns; ok is false for the other kinds, whose addresses rless
// does not choose.
func (m Mode) Addrs() (a Addrs, ok bool) {
	if m.Kind != KindSlirp && m.Kind != KindSlirp4netns {
		return Addrs{}, false
	}
	a = Addrs{Container: m.Config.ContainerAddr().Addr(), DNS: m.Config.DNSAddr()}
	if m.Config.AllowHostLoopback || m.Config.Egress != nil && m.Config.Egress.OpensHostLoopback(m.Config) {
		a.Host = m.Config.Gateway()
	} else {
		a.Host, _ = HostAddress()
	}
	return a, true
}

// slirp4netnsArgs parses the options of the slirp4netns mode (podman's:
// allow_host_loopback, cidr, mtu, as the built-in stack takes them, and
// enable_ipv6, port_handler) into the program's arguments, and the
// addresses it gives the container (the built-in stack's).
func slirp4netnsArgs(opts string) ([]string, Config, error) {
	var common []string
	ipv6 := false
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "allow_host_loopback", "mtu", "cidr":
				common = append(common, o)
			case "enable_ipv6":
				ipv6 = v == "true"
			case "port_handler":
				if v != "slirp4netns" {
					return nil, Config{}, fmt.Errorf("slirp4netns option %q: only port_handler=slirp4netns is supported", o)
				}
			default:
				return nil, Config{}, fmt.Errorf("slirp4netns option %q: unknown (known: allow_host_loopback, cidr, enable_ipv6, mtu, port_handler)", o)
			}
		}
	}
	cfg, err := ParseOptions(strings.Join(common, ","))
	if err != nil {
		return nil, cfg, err
	}
	args := []string{"--configure", "--mtu=" + strconv.Itoa(cfg.MTU), "--enable-sandbox"}
	if cfg.CIDR != DefaultConfig().CIDR {
		args = append(args, "--cidr="+cfg.CIDR.String())
	}
	if ipv6 {
		args = append(args, "--enable-ipv6")
	}
	if !cfg.AllowHostLoopback {
		args = append(args, "--disable-host-loopback")
	}
	return args, cfg, nil
}

// pastaArgs returns pasta's arguments for the pasta mode's options, which
// are pasta's own command-line arguments, comma-separated (as podman takes
// them), and ports. The host's loopback is not reachable at the gateway's
// address unless the options say --map-gw, and nothing is forwarded that
// is not asked for.
func pastaArgs(opts string, ports []PortMapping) []string {
	args := []string{"--config-net", "--quiet"}
	var own []string
	mapGW := false
	if opts != "" {
		for _, a := range strings.Split(opts, ",") {
			if a == "--map-gw" {
				mapGW = true // pasta's default; older ones lack the flag
				continue
			}
			own = append(own, a)
		}
	}
	if !mapGW {
		args = append(args, "--no-map-gw")
	}
	// The forwarding options the user gave, by their short names: -t,
	// -t8080, --tcp-ports=8080 and --tcp-ports are all -t.
	long := map[string]string{"--tcp-ports": "-t", "--udp-ports": "-u", "--tcp-ns": "-T", "--udp-ns": "-U"}
	forwards := map[string]bool{}
	for _, a := range own {
		name, _, _ := strings.Cut(a, "=")
		if short, ok := long[name]; ok {
			forwards[short] = true
		} else if len(a) >= 2 && a[0] == '-' && strings.IndexByte("tuTU", a[1]) >= 0 {
			forwards[a[:2]] = true
		}
	}
	for _, p := range ports {
		flag := "-t"
		if p.Protocol == "udp" {
			flag = "-u"
		}
		spec := fmt.Sprintf("%d:%d", p.HostPort, p.ContainerPort)
		if p.HostIP.IsValid() {
			spec = p.HostIP.String() + "/" + spec
		}
		args = append(args, flag, spec)
		forwards[flag] = true
	}
	// Nothing forwarded that was not asked for (pasta's default is
	// every port bound in the container).
	for _, f := range []string{"-t", "-u", "-T", "-U"} {
		if !forwards[f] {
			args = append(args, f, "none")
		}
	}
	return append(args, own...)
}
