package container

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// EtcOptions say what a container's /etc/hosts and /etc/resolv.conf hold.
type EtcOptions struct {
	Hostname string
	// HostNetwork: the container shares the host's network, and its
	// hosts and resolv.conf are the host's.
	HostNetwork bool
	// Address is the container's own address, named by Hostname in
	// hosts; when not valid the name is given 127.0.1.1.
	Address netip.Addr
	// HostGateway is the address at which the container reaches the host,
	// named host.containers.internal in hosts, if valid.
	HostGateway netip.Addr
	// Nameservers replace the host's resolvers in resolv.conf (--dns, or
	// the DNS forwarder of a userspace network); Search replaces its
	// search domains (--dns-search; "." clears them).
	Nameservers, Search []string
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
	hosts, err := hostsFile(o)
	if err != nil {
		return nil, err
	}
	resolv := resolvConf(o)
	files := []struct {
		name string
		data []byte
	}{
		{"hostname", []byte(o.Hostname + "\n")},
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

func hostsFile(o EtcOptions) ([]byte, error) {
	var b bytes.Buffer
	if o.HostNetwork {
		if data, err := os.ReadFile("/etc/hosts"); err == nil {
			b.Write(data)
		}
	} else {
		b.WriteString("127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n" +
			"::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n")
	}
	for _, h := range o.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if _, err := netip.ParseAddr(ip); !ok || name == "" || err != nil {
			return nil, fmt.Errorf("--add-host %q: want NAME:IP", h)
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, name)
	}
	if o.Address.IsValid() {
		fmt.Fprintf(&b, "%s\t%s\n", o.Address, o.Hostname)
	} else {
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", o.Hostname)
	}
	if o.HostGateway.IsValid() {
		fmt.Fprintf(&b, "%s\thost.containers.internal host.docker.internal\n", o.HostGateway)
	}
	return b.Bytes(), nil
}

// resolvConf is the host's resolv.conf with the nameservers and search
// domains o replaces.
func resolvConf(o EtcOptions) []byte {
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		host = nil // no resolver configured: an empty file, as podman
	}
	if o.HostNetwork || len(o.Nameservers) == 0 && len(o.Search) == 0 {
		return host
	}
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "nameserver" && len(o.Nameservers) > 0:
		case len(f) > 0 && (f[0] == "search" || f[0] == "domain") && len(o.Search) > 0:
		default:
			b.WriteString(line + "\n")
		}
	}
	if len(o.Search) > 0 && !(len(o.Search) == 1 && o.Search[0] == ".") {
		b.WriteString("search " + strings.Join(o.Search, " ") + "\n")
	}
	for _, ns := range o.Nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	return b.Bytes()
}
