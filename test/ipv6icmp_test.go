package test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pingAllowed reports whether the host's net.ipv4.ping_group_range holds
// one of this process's groups: hack/as-user.sh sets it, as root, to hold
// rlesstest's group and not rlesstest2's, so that CI sees both outcomes.
func pingAllowed(t *testing.T) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	groups, _ := os.Getgroups()
	for _, g := range append(groups, os.Getgid()) {
		if lo <= g && g <= hi {
			return true
		}
	}
	return false
}

// TestPing: an echo request from the container to an address of the host
// (IPv4, and IPv6 where the host has an address) goes out through a host ICMP socket and its replies come back when the
// host's net.ipv4.ping_group_range holds the user's group; else the run
// says once that the host does not permit it. An address nobody answers
// gets no reply (the stack makes none up); the gateway answers itself.
func TestPing(t *testing.T) {
	raw := []string{"--cap-add", "NET_RAW"}
	hosts := [][]string{{hostAddr(t).String()}}
	if a, ok := globalAddr6(); ok {
		hosts = append(hosts, []string{"-6", a.String()})
	} else {
		t.Log("this host has no global IPv6 address: IPv4 only")
	}
	for _, h := range hosts {
		host := h[len(h)-1]
		r := runIn(t, raw, append(append([]string{"ping"}, h[:len(h)-1]...), "-c", "2", "-W", "5", host)...)
		if pingAllowed(t) {
			if r.code != 0 || !strings.Contains(r.stdout, "64 bytes from "+host+": seq=1") || !strings.Contains(r.stdout, "2 packets received") {
				t.Errorf("ping %s: exit %d\n%s%s", host, r.code, r.stdout, r.stderr)
			}
		} else {
			want := "WARN: ping from the container: not permitted by this host (net.ipv4.ping_group_range is "
			if r.code != 1 || strings.Count(r.stderr, want) != 1 || !strings.Contains(r.stdout, "0 packets received") {
				t.Errorf("ping %s where the host does not permit it: exit %d, want 1 and one line %q\n%s%s", host, r.code, want, r.stdout, r.stderr)
			}
		}
	}
	if r := runIn(t, raw, "ping", "-c", "1", "-W", "1", "203.0.113.77"); r.code != 1 || !strings.Contains(r.stdout, "0 packets received") {
		t.Errorf("ping of an address nobody has: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runIn(t, raw, "ping", "-c", "1", "-W", "5", "10.0.2.2"); r.code != 0 || !strings.Contains(r.stdout, "1 packets received") {
		t.Errorf("ping of the gateway: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// globalAddr6 returns a global IPv6 address of the host, if it has one.
func globalAddr6() (netip.Addr, bool) {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is6() && !p.Addr().Is4In6() && p.Addr().IsGlobalUnicast() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// hostAddr6 returns a global IPv6 address of the host, skipping t where it
// has none.
func hostAddr6(t *testing.T) netip.Addr {
	t.Helper()
	a, ok := globalAddr6()
	if !ok {
		t.Skip("this host has no global IPv6 address")
	}
	return a
}

// TestNetworkIPv6: the default network gives the container an IPv6 address
// and a default route, and it reaches a server on the host's IPv6 address
// (NAT66 in the stack); enable_ipv6=false leaves the link IPv4 only.
func TestNetworkIPv6(t *testing.T) {
	host := hostAddr6(t)
	web := serveHTTP(t, "["+host.String()+"]:0", "page over IPv6\n")
	out := mustRun(t, nil, "sh", "-c", "ip -o -6 addr show tap0 scope global | awk '{print $4}'; ip -6 route show default | awk '{print $1, $2, $3}'; wget -q -O- http://"+web+"/")
	if want := "fd72:6c65:7373::100/64\ndefault via fd72:6c65:7373::2\npage over IPv6\n"; out != want {
		t.Errorf("IPv6: got\n%s\nwant\n%s", out, want)
	}
	out = mustRun(t, []string{"--network", "slirp:enable_ipv6=false"}, "sh", "-c", "ip -o -6 addr show tap0 scope global; ip -6 route show default; wget -q -T 3 -O- http://"+web+"/ 2>/dev/null || echo unreachable")
	if out != "unreachable\n" {
		t.Errorf("enable_ipv6=false: got\n%s", out)
	}
}

// TestPublishClientAddr: a server behind -p sees the client's own address
// and port, IPv4 and IPv6, as behind pasta; a client on the host's
// loopback comes from the container's own loopback (relayed in the kernel
// by rless's init), or without rless's init from the gateway (the host, as
// the container knows it).
func TestPublishClientAddr(t *testing.T) {
	t.Run("init", func(t *testing.T) { testPublishClientAddr(t, nil, "127.0.0.1") })
	t.Run("no-init", func(t *testing.T) { testPublishClientAddr(t, []string{"--init=false"}, "10.0.2.2") })
}

func testPublishClientAddr(t *testing.T, flags []string, loopback string) {
	port := freePort(t)
	www := t.TempDir()
	cgi := filepath.Join(www, "cgi-bin")
	os.Mkdir(cgi, 0o755)
	os.WriteFile(filepath.Join(cgi, "addr"), []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s %s\\n' \"$REMOTE_ADDR\" \"$REMOTE_PORT\"\n"), 0o755)
	os.Chmod(www, 0o755)
	args := append([]string{"run", "-p", fmt.Sprintf("%d:80", port), "-v", www + ":/www:ro"}, flags...)
	// A shell that ends on SIGTERM, which a PID 1 without rless's init
	// would otherwise ignore.
	cmd := rlessCmd(append(args, "--rootfs", rootfs, "sh", "-c", "trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait")...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	startBackground(t, cmd)
	if body := getOnceServed(fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/addr", port)); body == "" {
		t.Fatalf("the server in the container does not answer (rless: %s)", stderr.String())
	}
	// seen asks the server from a connection to host and returns what it
	// says the client is, and the connection's own address.
	seen := func(host string) (said string, client netip.AddrPort) {
		c, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /cgi-bin/addr HTTP/1.0\r\n\r\n")
		resp, _ := io.ReadAll(c)
		_, body, _ := strings.Cut(string(resp), "\r\n\r\n")
		// busybox's httpd writes IPv6 addresses in brackets, and IPv4
		// clients of its IPv6 socket as mapped ones.
		said = strings.NewReplacer("[", "", "]", "", "::ffff:", "").Replace(strings.TrimSpace(body))
		return said, netip.MustParseAddrPort(c.LocalAddr().String())
	}
	hosts := []string{hostAddr(t).String()}
	if a, ok := globalAddr6(); ok {
		hosts = append(hosts, a.String())
	} else {
		t.Log("this host has no global IPv6 address: IPv4 clients only")
	}
	for _, h := range hosts {
		said, client := seen(h)
		if want := fmt.Sprintf("%s %d", client.Addr().Unmap(), client.Port()); said != want {
			t.Errorf("a client at %v: the container sees %q, want %q", client, said, want)
		}
	}
	for _, h := range []string{"127.0.0.1", "::1"} {
		if said, _ := seen(h); !strings.HasPrefix(said, loopback+" ") {
			t.Errorf("a client on the host's loopback (%s): the container sees %q, want %s", h, said, loopback)
		}
	}
}
