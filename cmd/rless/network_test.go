package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rless/rless/pkg/network"
)

func TestSlirp4netnsArgs(t *testing.T) {
	got, cfg, err := slirp4netnsArgs("allow_host_loopback=true,mtu=1500,cidr=10.5.0.0/24,enable_ipv6=true,port_handler=slirp4netns")
	want := []string{"--configure", "--mtu=1500", "--enable-sandbox", "--cidr=10.5.0.0/24", "--enable-ipv6"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	if !cfg.AllowHostLoopback || cfg.ContainerAddr().String() != "10.5.0.100/24" {
		t.Errorf("addresses %+v", cfg)
	}
	got, _, _ = slirp4netnsArgs("")
	if want := []string{"--configure", "--mtu=65520", "--enable-sandbox", "--disable-host-loopback"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default: %v, want %v", got, want)
	}
	for _, bad := range []string{"mtu=x", "mtu=100", "cidr=x", "cidr=10.5.0.0/30", "allow_host_loopback=maybe", "port_handler=rootlesskit", "bogus=1"} {
		if _, _, err := slirp4netnsArgs(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestPastaArgs(t *testing.T) {
	ports, _ := network.ParsePublish("127.0.0.1:8080:80")
	udp, _ := network.ParsePublish("5353:53/udp")
	got := strings.Join(pastaArgs("", append(ports, udp...)), " ")
	if want := "--config-net --quiet --no-map-gw -t 127.0.0.1/8080:80 -u 5353:53 -T none -U none"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = strings.Join(pastaArgs("--map-gw,-T,auto", nil), " ")
	if want := "--config-net --quiet -t none -u none -U none -T auto"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The user's forwarding options in every form pasta takes: rless adds
	// no "none" of the same kind, which pasta would refuse as a conflict.
	got = strings.Join(pastaArgs("--tcp-ports=8080,-u53,--tcp-ns,auto,--udp-ns=auto", nil), " ")
	if want := "--config-net --quiet --no-map-gw --tcp-ports=8080 -u53 --tcp-ns auto --udp-ns=auto"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseNetwork(t *testing.T) {
	f := &netFlags{network: "slirp:mtu=1500", publishAll: true, publish: []string{"8080:80"}}
	n, err := f.parse(map[string]struct{}{"53/udp": {}, "9000/tcp": {}})
	if err != nil {
		t.Fatal(err)
	}
	if n.mode != "slirp" || n.slirp.MTU != 1500 || len(n.ports) != 3 || n.ports[1].ContainerPort != 53 || n.ports[2].ContainerPort != 9000 {
		t.Errorf("parsed %+v", n)
	}
	for _, bad := range []string{"bogus", "none:x", "slirp:mtu=1"} {
		if _, err := (&netFlags{network: bad}).parse(nil); err == nil {
			t.Errorf("--network %s accepted", bad)
		}
	}
	for _, v := range []string{"keep-id:uid=1,gid=2", "keep-id", "host", ""} {
		if _, err := parseUserns(v); err != nil {
			t.Errorf("--userns=%s: %v", v, err)
		}
	}
}
