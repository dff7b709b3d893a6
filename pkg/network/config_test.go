package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestParseOptions(t *testing.T) {
	cfg, err := ParseOptions("")
	if err != nil || !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Fatalf("ParseOptions(\"\") = %+v, %v; want defaults", cfg, err)
	}
	cfg, err = ParseOptions("allow_host_loopback=true,mtu=1500,cidr=10.5.0.7/24")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AllowHostLoopback || cfg.MTU != 1500 || cfg.CIDR != netip.MustParsePrefix("10.5.0.0/24") {
		t.Fatalf("got %+v", cfg)
	}
	if got := cfg.ContainerAddr().String(); got != "10.5.0.100/24" {
		t.Errorf("container = %s", got)
	}
	if cfg.Gateway().String() != "10.5.0.2" || cfg.DNSAddr().String() != "10.5.0.3" {
		t.Errorf("gateway %s dns %s", cfg.Gateway(), cfg.DNSAddr())
	}
	// IPv6, on by default.
	if cfg.NoIPv6 || cfg.ContainerAddr6().String() != "fd72:6c65:7373::100/64" || cfg.Gateway6().String() != "fd72:6c65:7373::2" || cfg.DNSAddr6().String() != "fd72:6c65:7373::3" {
		t.Errorf("IPv6: off %v, container %s gateway %s dns %s", cfg.NoIPv6, cfg.ContainerAddr6(), cfg.Gateway6(), cfg.DNSAddr6())
	}
	if !cfg.IsGateway(cfg.Gateway6()) || !cfg.IsDNS(cfg.DNSAddr6()) || !cfg.OnLink(netip.MustParseAddr("fd72:6c65:7373::9")) {
		t.Error("the IPv6 addresses are not the link's")
	}
	cfg, err = ParseOptions("enable_ipv6=false")
	if err != nil || !cfg.NoIPv6 || cfg.IsGateway(cfg.Gateway6()) || cfg.OnLink(cfg.ContainerAddr6().Addr()) {
		t.Errorf("enable_ipv6=false: %+v, %v", cfg, err)
	}
	if tap, err := ParseTap(cfg.TapString()); err != nil || !tap.NoIPv6 {
		t.Errorf("the tap's configuration loses enable_ipv6=false: %+v, %v", tap, err)
	}
	for s, want := range map[string]string{
		"enable_ipv6=maybe":        "enable_ipv6=maybe",
		"port_handler=slirp4netns": `unknown key "port_handler"`,
		"mtu":                      "want key=value",
		"mtu=big":                  `"mtu=big"`,
		"mtu=100":                  "mtu 100",
		"allow_host_loopback=yes":  "allow_host_loopback=yes",
		"cidr=fd00::/64":           "IPv4",
		"cidr=10.0.0.0/30":         "IPv4 subnet",
	} {
		if _, err := ParseOptions(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseOptions(%q) error = %v; want it to contain %q", s, err, want)
		}
	}
}

func TestParsePublish(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	v6 := netip.MustParseAddr("::1")
	for s, want := range map[string][]PortMapping{
		"8080:80":           {{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		"80":                {{ContainerPort: 80, Protocol: "tcp"}},
		"127.0.0.1:8080:80": {{HostIP: lo, HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		"127.0.0.1::80/udp": {{HostIP: lo, ContainerPort: 80, Protocol: "udp"}},
		"[::1]:53:53/udp":   {{HostIP: v6, HostPort: 53, ContainerPort: 53, Protocol: "udp"}},
		"8000-8002:80-82/tcp": {
			{HostPort: 8000, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 8001, ContainerPort: 81, Protocol: "tcp"},
			{HostPort: 8002, ContainerPort: 82, Protocol: "tcp"},
		},
	} {
		got, err := ParsePublish(s)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParsePublish(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "x:80", "8080:80/sctp", "8000-8001:80", "0:80", "70000:80",
		"1.2.3.4.5:80:80", "[::1:80:80", "a:b:c:d", "82-80:82-80"} {
		if got, err := ParsePublish(s); err == nil {
			t.Errorf("ParsePublish(%q) = %v; want an error", s, got)
		}
	}
	if s := (PortMapping{HostIP: lo, HostPort: 1, ContainerPort: 2, Protocol: "udp"}).String(); s != "127.0.0.1:1:2/udp" {
		t.Errorf("String() = %q", s)
	}
}

// TestListenTaken: a port taken on the host fails Listen, naming it.
func TestListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	ms, err := ParsePublish("127.0.0.1::9/udp")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := ParsePublish(fmt.Sprintf("127.0.0.1:%d:80", port))
	l, err := Listen(append(ms, more...))
	want := fmt.Sprintf("publish 127.0.0.1:%d/tcp: address already in use", port)
	if err == nil || err.Error() != want {
		l.Close()
		t.Fatalf("Listen error = %v; want %q", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %v does not wrap EADDRINUSE", err)
	}
}
