package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/spec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	// The drivers of the network modes: rless serves the slirp mode from
	// a process of its own, and never links gVisor (pkg/slirp).
	_ "github.com/rless/rless/pkg/network/external"
	_ "github.com/rless/rless/pkg/network/netstack"
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

// parse reads --network and the port flags; exposed are the image's
// ExposedPorts (for -P).
func (f *netFlags) parse(exposed map[string]struct{}) (network.Mode, error) {
	mode, err := network.ParseMode(f.network, f.publish, f.publishAll, exposed)
	var me *network.ModeError
	if errors.As(err, &me) {
		err = fmt.Errorf("--%w", err) // "--network ..."
	}
	if err != nil {
		return mode, err
	}
	if len(mode.Discarded) > 0 {
		fmt.Fprintf(os.Stderr, "WARN: port mappings have been discarded: --network %s has no network of its own\n", mode.Kind)
	}
	return mode, nil
}

// etc returns what /etc/hosts and /etc/resolv.conf hold for mode.
func (f *netFlags) etc(mode network.Mode, hostname string) container.EtcOptions {
	o := container.EtcOptions{
		Hostname: hostname, HostNetwork: mode.Kind == network.KindHost,
		Nameservers: f.dns, Search: f.dnsSearch, ExtraHosts: f.addHost,
	}
	if a, ok := mode.Addrs(); ok {
		o.Address = a.Container
		if len(o.Nameservers) == 0 {
			o.Nameservers = []string{a.DNS.String()}
		}
		o.HostGateway = a.Host
	}
	return o
}

// openNetwork opens the driver of mode, before the container: the
// published ports are opened (a taken one fails the run) and the stack
// starts now, alongside the container. It fills in the spec options; the
// driver is nil for none and host.
func openNetwork(ctx context.Context, runRoot string, mode network.Mode, opts *spec.Options) (network.Driver, error) {
	opts.Network = string(mode.Kind)
	d, err := network.Open(ctx, mode, network.Options{RunRoot: runRoot})
	if err != nil || d == nil {
		return nil, err
	}
	if cfg := d.Tap(); cfg != nil {
		opts.Slirp = cfg
	}
	return d, nil
}

// netHooks sets cfg's network hooks to d's Attach. What they return only
// tells the network to stop (network.Stop), as the container ends: the
// caller closes d last, so that its exit overlaps the rest of the clean-up.
func netHooks(ctx context.Context, d network.Driver, cfg *container.Config) {
	if d == nil {
		return
	}
	if d.Tap() != nil {
		cfg.AttachTap = func(tap *os.File) (io.Closer, error) {
			if err := d.Attach(ctx, 0, tap); err != nil {
				return nil, err
			}
			return stopper{d}, nil
		}
		return
	}
	cfg.ConnectNetwork = func(pid int) (io.Closer, error) {
		if err := d.Attach(ctx, pid, nil); err != nil {
			return nil, err
		}
		return stopper{d}, nil
	}
}

// stopper's Close tells a network to stop, without waiting for it.
type stopper struct{ d network.Driver }

func (s stopper) Close() error { network.Stop(s.d); return nil }

// closeNetwork stops d (if not nil) and waits for it.
func closeNetwork(d network.Driver) {
	if d == nil {
		return
	}
	if err := d.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "WARN: %v\n", err)
	}
	slog.Debug("network stopped")
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
				ports, err := network.AnnotatedPorts(st.Spec.Annotations)
				if err != nil {
					return fmt.Errorf("container %s: ports: %w", st.ID, err)
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
