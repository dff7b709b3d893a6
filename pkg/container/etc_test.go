package container

import (
	"net/netip"
	"testing"
)

func TestHostsFile(t *testing.T) {
	host := []byte("# the host's\n127.0.0.1 localhost\n127.0.1.1   vm   vm.local # comment\n\n::1 ip6-localhost\n")
	hostAddr := netip.MustParseAddr("198.51.100.10")
	for _, tc := range []struct {
		name string
		o    EtcOptions
		data []byte
		want string
	}{
		{"own network", EtcOptions{Hostname: "abc", Name: "web", Address: netip.MustParseAddr("10.0.2.100"), HostGateway: netip.MustParseAddr("192.0.2.2"), ExtraHosts: []string{"db:192.0.2.7"}}, host,
			"127.0.0.1\tlocalhost\n127.0.1.1\tvm vm.local\n::1\tip6-localhost\n192.0.2.7\tdb\n192.0.2.2\thost.containers.internal host.docker.internal\n10.0.2.100\tabc web\n"},
		{"no network", EtcOptions{Hostname: "abc"}, host,
			"127.0.0.1\tlocalhost\n127.0.1.1\tvm vm.local\n::1\tip6-localhost\n198.51.100.10\thost.containers.internal host.docker.internal\n127.0.0.1\tabc\n"},
		{"host network", EtcOptions{Hostname: "vm", HostNetwork: true}, host,
			"127.0.0.1\tlocalhost\n127.0.1.1\tvm vm.local\n::1\tip6-localhost\n198.51.100.10\thost.containers.internal host.docker.internal\n"},
		{"no hosts file", EtcOptions{Hostname: "abc"}, nil,
			defaultHosts + "198.51.100.10\thost.containers.internal host.docker.internal\n127.0.0.1\tabc\n"},
	} {
		got, err := hostsFile(tc.o, tc.data, hostAddr)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %v\n%s\nwant\n%s", tc.name, err, got, tc.want)
		}
	}
	if _, err := hostsFile(EtcOptions{ExtraHosts: []string{"db"}}, host, hostAddr); err == nil {
		t.Error("--add-host without an address accepted")
	}
}

func TestResolvConf(t *testing.T) {
	host := []byte("search example.com\nnameserver 127.0.0.53\nnameserver 10.255.255.53\noptions edns0\n")
	loopOnly := []byte("nameserver 127.0.0.53\n")
	for _, tc := range []struct {
		name string
		o    EtcOptions
		host []byte
		want string
	}{
		{"own network: the stack's DNS, then the host's (not loopback)", EtcOptions{Nameservers: []string{"10.0.2.3"}, HostNameservers: true}, host,
			"search example.com\noptions edns0\nnameserver 10.0.2.3\nnameserver 10.255.255.53\n"},
		{"--dns and --dns-search replace", EtcOptions{Nameservers: []string{"192.0.2.53"}, Search: []string{"example.org"}}, host,
			"options edns0\nsearch example.org\nnameserver 192.0.2.53\n"},
		{"no network: the host's", EtcOptions{}, host,
			"search example.com\noptions edns0\nnameserver 10.255.255.53\n"},
		{"no network, only a loopback resolver: podman's fallback", EtcOptions{}, loopOnly,
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"host network: the host's as it is", EtcOptions{HostNetwork: true}, loopOnly, string(loopOnly)},
		{"host network, no resolv.conf: the fallback", EtcOptions{HostNetwork: true}, nil,
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
	} {
		if got := string(resolvConf(tc.o, tc.host)); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}
