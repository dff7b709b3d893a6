package container

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// EtcOptions say what a container's /etc/hosts and /etc/resolv.conf hold.
type EtcOptions struct {
	Hostname string
	// Name is the container's name, if it has one: hosts gives it to the
	// container's address too.
	Name string
	// HostNetwork: the container shares the host's network, and its
	// hosts and resolv.conf are the host's.
	HostNetwork bool
	// Address is the container's own address, named by Hostname in
	// hosts; when not valid the name is given 127.0.0.1.
	Address netip.Addr
	// HostGateway is the address at which the container reaches the host,
	// named host.containers.internal in hosts; when not valid, the
	// host's first address that is not a loopback one, as podman.
	HostGateway netip.Addr
	// Nameservers replace the host's resolvers in resolv.conf (--dns, or
	// the DNS forwarder of a userspace network); Search replaces its
	// search domains (--dns-search; "." clears them).
	Nameservers, Search []string
	// HostNameservers keeps the host's resolvers, other than loopback
	// ones, after Nameservers (podman's way with its slirp4netns DNS).
	HostNameservers bool
	// ExtraHosts are NAME:IP entries added to hosts (--add-host).
	ExtraHosts []string
}

// etcNames are the files EtcFiles writes.
var etcNames = []string{"hostname", "hosts", "resolv.conf"}

// EtcMounts returns the bind mounts of the files EtcFiles writes into dir.
func EtcMounts(dir string) []specs.Mount {
	var mounts []specs.Mount
	for _, name := range etcNames {
		mounts = append(mounts, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: filepath.Join(dir, name), Options: []string{"bind", "rprivate"}})
	}
	return mounts
}

// EtcFiles writes a container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into dir, the way podman provides them, and returns the
// bind mounts that put them in place (EtcMounts).
func EtcFiles(dir string, o EtcOptions) ([]specs.Mount, error) {
	hostHosts, _ := os.ReadFile("/etc/hosts")
	var hostAddr netip.Addr
	if !o.HostGateway.IsValid() {
		// Only without a gateway: listing the host's addresses costs a
		// netlink dump on every start.
		hostAddr = hostAddress()
	}
	hosts, err := hostsFile(o, hostHosts, hostAddr)
	if err != nil {
		return nil, err
	}
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	resolv := resolvConf(o, hostResolv)
	files := []struct {
		name string
		data []byte
	}{
		{"hostname", []byte(o.Hostname)}, // without a newline, as podman
		{"hosts", hosts},
		{"resolv.conf", resolv},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return nil, fmt.Errorf("write /etc/%s: %w", f.name, err)
		}
	}
	return EtcMounts(dir), nil
}

// defaultHosts is the base of hosts where the host has no /etc/hosts.
const defaultHosts = "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n" +
	"::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n"

// hostsFile is podman's /etc/hosts: the entries of the host's (data; the
// defaults where it has none), --add-host's, the host as
// host.containers.internal (at hostAddr unless o names a gateway) and the
// container's own.
func hostsFile(o EtcOptions, data []byte, hostAddr netip.Addr) ([]byte, error) {
	var b bytes.Buffer
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte(defaultHosts)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if f := strings.Fields(line); len(f) >= 2 {
			fmt.Fprintf(&b, "%s\t%s\n", f[0], strings.Join(f[1:], " "))
		}
	}
	for _, h := range o.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if _, err := netip.ParseAddr(ip); !ok || name == "" || err != nil {
			return nil, fmt.Errorf("--add-host %q: want NAME:IP", h)
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, name)
	}
	gw := o.HostGateway
	if !gw.IsValid() {
		gw = hostAddr
	}
	if gw.IsValid() {
		fmt.Fprintf(&b, "%s\thost.containers.internal host.docker.internal\n", gw)
	}
	if o.HostNetwork {
		return b.Bytes(), nil
	}
	names := o.Hostname
	if o.Name != "" && o.Name != o.Hostname {
		names += " " + o.Name
	}
	if o.Address.IsValid() {
		fmt.Fprintf(&b, "%s\t%s\n", o.Address, names)
	} else {
		fmt.Fprintf(&b, "127.0.0.1\t%s\n", names)
	}
	return b.Bytes(), nil
}

// hostAddress is the host's first IPv4 address that is not a loopback
// one, or none.
func hostAddress() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip, _ := netip.AddrFromSlice(n.IP.To4())
			return ip
		}
	}
	return netip.Addr{}
}

// fallbackNameservers are podman's when a container would have none.
var fallbackNameservers = []string{"8.8.8.8", "8.8.4.4"}

// resolvConf is the host's resolv.conf (host, nil for none) with the
// nameservers and search domains o replaces, and podman's fallback
// nameservers where that leaves none.
func resolvConf(o EtcOptions, host []byte) []byte {
	if o.HostNetwork && hasNameserver(host) {
		return host
	}
	var b bytes.Buffer
	var hostNS []string
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "nameserver" && (len(o.Nameservers) > 0 || !o.HostNetwork):
			if ip, err := netip.ParseAddr(f[1]); err == nil && !ip.IsLoopback() {
				hostNS = append(hostNS, f[1])
			}
		case len(f) > 0 && (f[0] == "search" || f[0] == "domain") && len(o.Search) > 0:
		default:
			b.WriteString(line + "\n")
		}
	}
	if len(o.Search) > 0 && !(len(o.Search) == 1 && o.Search[0] == ".") {
		b.WriteString("search " + strings.Join(o.Search, " ") + "\n")
	}
	ns := slices.Clone(o.Nameservers)
	if len(ns) == 0 || o.HostNameservers {
		ns = append(ns, hostNS...)
	}
	if len(ns) == 0 {
		ns = fallbackNameservers
	}
	for _, n := range ns {
		b.WriteString("nameserver " + n + "\n")
	}
	return b.Bytes()
}

// hasNameserver reports whether a resolv.conf names a nameserver.
func hasNameserver(conf []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "nameserver" {
			return true
		}
	}
	return false
}
