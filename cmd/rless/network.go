package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/rless/rless/pkg/engine"
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
	fl.StringVar(&f.network, "network", spec.NetworkSlirp, "network mode: slirp[:OPTIONS] (a userspace network, built in; options allow_host_loopback=true, enable_ipv6=false, mtu=N, cidr=A.B.C.D/N, resolver=IP[:PORT]), none (loopback only), host, or slirp4netns[:OPTIONS] or pasta[:ARGS] when installed")
	fl.StringVar(&f.network, "net", spec.NetworkSlirp, "alias of --network")
	_ = fl.MarkHidden("net")
	stringsVar(fl, &f.publish, "publish", "p", "publish a container's port on the host: [HOST-IP:][HOST-PORT:]CONTAINER-PORT[/tcp|/udp], ports may be ranges", false)
	fl.BoolVarP(&f.publishAll, "publish-all", "P", false, "publish the image's exposed ports on random host ports")
	stringsVar(fl, &f.dns, "dns", "", "DNS server for the container's /etc/resolv.conf", false)
	stringsVar(fl, &f.dnsSearch, "dns-search", "", "DNS search domain for /etc/resolv.conf (\".\" for none)", false)
	stringsVar(fl, &f.addHost, "add-host", "", "add NAME:IP to the container's /etc/hosts", false)
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
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			states, err := e.List()
			if err != nil {
				return err
			}
			found := false
			for _, st := range states {
				if st.Status == engine.Stopped || st.Spec == nil {
					continue
				}
				if !all && !strings.HasPrefix(st.ID, args[0]) && (st.Record == nil || st.Record.Name != args[0]) {
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
