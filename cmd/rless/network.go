package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/spec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// netFlags are run's network flags.
type netFlags struct {
	network    string
	publish    []string
	publishAll bool
	dns        []string
	dnsSearch  []string
	addHost    []string
}

func (f *netFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.network, "network", spec.NetworkSlirp, "network mode: slirp[:OPTIONS] (a userspace network, built in; options allow_host_loopback=true, mtu=N, cidr=A.B.C.D/N), none (loopback only), host, or slirp4netns[:OPTIONS] or pasta[:ARGS] when installed")
	fl.StringVar(&f.network, "net", spec.NetworkSlirp, "alias of --network")
	_ = fl.MarkHidden("net")
	fl.StringArrayVarP(&f.publish, "publish", "p", nil, "publish a container's port on the host: [HOST-IP:][HOST-PORT:]CONTAINER-PORT[/tcp|/udp], ports may be ranges")
	fl.BoolVarP(&f.publishAll, "publish-all", "P", false, "publish the image's exposed ports on random host ports")
	fl.StringArrayVar(&f.dns, "dns", nil, "DNS server for the container's /etc/resolv.conf")
	fl.StringArrayVar(&f.dnsSearch, "dns-search", nil, "DNS search domain for /etc/resolv.conf (\".\" for none)")
	fl.StringArrayVar(&f.addHost, "add-host", nil, "add NAME:IP to the container's /etc/hosts")
}

// netSetup is the network of one container, as the flags ask for it.
type netSetup struct {
	mode      string // a spec.Network* mode
	slirp     network.Config
	program   string   // slirp4netns or pasta: its path
	args      []string // and its arguments
	ports     []network.PortMapping
	listeners *network.Listeners
	stack     *netstack
}

// parse reads --network and the port flags; exposed are the image's
// ExposedPorts (for -P).
func (f *netFlags) parse(exposed map[string]struct{}) (*netSetup, error) {
	mode, opts, _ := strings.Cut(f.network, ":")
	n := &netSetup{mode: mode}
	switch mode {
	case "slirp", "private", "":
		n.mode = spec.NetworkSlirp
		cfg, err := network.ParseOptions(opts)
		if err != nil {
			return nil, fmt.Errorf("--network %s: %w", f.network, err)
		}
		n.slirp = cfg
	case spec.NetworkNone, spec.NetworkHost:
		if opts != "" {
			return nil, fmt.Errorf("--network %s: %s takes no options", f.network, mode)
		}
	case spec.NetworkSlirp4netns, spec.NetworkPasta:
		path, err := exec.LookPath(mode)
		if err != nil {
			return nil, fmt.Errorf("--network %s: %s is not installed", f.network, mode)
		}
		n.program = path
		if mode == spec.NetworkSlirp4netns {
			if n.args, n.slirp, err = slirp4netnsArgs(opts); err != nil {
				return nil, fmt.Errorf("--network %s: %w", f.network, err)
			}
		}
	default:
		return nil, fmt.Errorf("--network %q: want slirp[:OPTIONS], none, host, slirp4netns[:OPTIONS] or pasta[:ARGS]", f.network)
	}
	for _, p := range f.publish {
		ms, err := network.ParsePublish(p)
		if err != nil {
			return nil, err
		}
		n.ports = append(n.ports, ms...)
	}
	if f.publishAll {
		keys := make([]string, 0, len(exposed))
		for k := range exposed {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ms, err := network.ParsePublish(k)
			if err != nil {
				return nil, fmt.Errorf("image's exposed port: %w", err)
			}
			n.ports = append(n.ports, ms...)
		}
	}
	if n.program != "" {
		for _, p := range n.ports {
			if p.HostPort == 0 {
				return nil, fmt.Errorf("--network %s: publish %s: give the host port", mode, p)
			}
		}
		if mode == spec.NetworkPasta {
			n.args = pastaArgs(opts, n.ports)
		}
	}
	if len(n.ports) > 0 && (n.mode == spec.NetworkNone || n.mode == spec.NetworkHost) {
		// As podman: the ports of a network not its own cannot be published.
		fmt.Fprintf(os.Stderr, "WARN: port mappings have been discarded: --network %s has no network of its own\n", n.mode)
		n.ports = nil
	}
	return n, nil
}

// etc returns what /etc/hosts and /etc/resolv.conf hold for this network.
func (n *netSetup) etc(f *netFlags, hostname string) container.EtcOptions {
	o := container.EtcOptions{
		Hostname: hostname, HostNetwork: n.mode == spec.NetworkHost,
		Nameservers: f.dns, Search: f.dnsSearch, ExtraHosts: f.addHost,
	}
	if n.mode == spec.NetworkSlirp || n.mode == spec.NetworkSlirp4netns {
		o.Address = n.slirp.ContainerAddr().Addr()
		if len(o.Nameservers) == 0 {
			o.Nameservers = []string{n.slirp.DNSAddr().String()}
		}
		if n.slirp.AllowHostLoopback {
			o.HostGateway = n.slirp.Gateway()
		} else {
			o.HostGateway, _ = network.HostAddress()
		}
	}
	return o
}

// start opens the published ports (failing when one is taken) and starts
// the network stack, before the container: the stack's start-up overlaps
// the container's. It fills in the spec options and the container config.
func (n *netSetup) start(runRoot string, opts *spec.Options) error {
	opts.Network = n.mode
	if n.program != "" {
		return nil // connected once the container's namespace exists (connect)
	}
	if n.mode != spec.NetworkSlirp {
		return nil
	}
	cfg := n.slirp
	opts.Slirp = &cfg
	l, err := network.Listen(n.ports)
	if err != nil {
		return err
	}
	n.listeners, n.ports = l, l.Ports() // with the host ports bound
	cfg.Ports = n.ports
	n.stack = startNetstack(runRoot, cfg, l)
	slog.Debug("network stack starting", "ports", n.ports)
	return nil
}

// connect returns the container.Config.ConnectNetwork of an external
// program's mode.
func (n *netSetup) connect(runRoot string) func(pid int) (io.Closer, error) {
	return func(pid int) (io.Closer, error) {
		if n.mode == spec.NetworkPasta {
			return connectPasta(n.program, n.args, runRoot, pid)
		}
		return connectSlirp4netns(n.program, n.args, n.ports, runRoot, pid)
	}
}

// close stops the stack and closes the published ports.
func (n *netSetup) close() {
	if n.stack != nil {
		if err := n.stack.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "WARN: %v\n", err)
		}
		slog.Debug("network stack stopped")
	}
	n.listeners.Close()
}

// AnnotationPorts records the published ports in a container's spec, for
// `rless port`.
const AnnotationPorts = "io.rless.ports"

// annotate records the published ports in the spec's annotations.
func (n *netSetup) annotate(a map[string]string) {
	if len(n.ports) > 0 {
		data, _ := json.Marshal(n.ports)
		a[AnnotationPorts] = string(data)
	}
}

func newPortCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "port [flags] CONTAINER [PRIVATE-PORT[/PROTO]]",
		Short: "List the published ports of a running container",
		Args:  cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all != (len(args) == 0) {
				return errors.New("give a container, or --all")
			}
			states, err := container.List(g.runRoot)
			if err != nil {
				return err
			}
			found := false
			for _, st := range states {
				if !all && !strings.HasPrefix(st.ID, args[0]) {
					continue
				}
				found = true
				var ports []network.PortMapping
				if v := st.Spec.Annotations[AnnotationPorts]; v != "" {
					if err := json.Unmarshal([]byte(v), &ports); err != nil {
						return fmt.Errorf("container %s: ports: %w", st.ID, err)
					}
				}
				for _, p := range ports {
					bound := netip.AddrPortFrom(p.BindIP(), p.HostPort).String()
					private := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
					switch {
					case len(args) == 2:
						if want := args[1]; want == private || want == fmt.Sprint(p.ContainerPort) && p.Protocol == "tcp" {
							fmt.Println(bound)
						}
					case all:
						fmt.Printf("%s\t%s -> %s\n", st.ID[:12], private, bound)
					default:
						fmt.Printf("%s -> %s\n", private, bound)
					}
				}
			}
			if !found && !all {
				return fmt.Errorf("no such container %s", args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "list the ports of every running container")
	return cmd
}
