package slirp

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// resolvConf is the host file read when Config.DNS is empty.
const resolvConf = "/etc/resolv.conf"

// hostResolvers returns the resolvers to relay DNS to as "IP:port" strings:
// dns if given, else the nameservers of the host's resolv.conf, else
// 127.0.0.1:53 as the C library assumes.
func hostResolvers(dns []string) ([]string, error) {
	if len(dns) == 0 {
		var err error
		if dns, err = readResolvConf(resolvConf); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, s := range dns {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, ap.String())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("slirp: DNS server %q: want IP or IP:port", s)
		}
		out = append(out, net.JoinHostPort(ip.String(), "53"))
	}
	if len(out) == 0 {
		out = []string{"127.0.0.1:53"}
	}
	return out, nil
}

// readResolvConf returns the nameserver addresses of a resolv.conf file; a
// missing file yields none.
func readResolvConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("slirp: read host resolvers: %w", err)
	}
	defer f.Close()
	var ns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			ns = append(ns, fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("slirp: read %s: %w", path, err)
	}
	return ns, nil
}
