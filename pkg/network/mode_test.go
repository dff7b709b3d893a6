package network

import (
	"errors"
	"reflect"
	"strings"
	"testing"
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
	ports, _ := ParsePublish("127.0.0.1:8080:80")
	udp, _ := ParsePublish("5353:53/udp")
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

func TestParseMode(t *testing.T) {
	m, err := ParseMode("slirp:mtu=1500", []string{"8080:80"}, true, map[string]struct{}{"53/udp": {}, "9000/tcp": {}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindSlirp || m.Config.MTU != 1500 || len(m.Ports) != 3 || m.Ports[1].ContainerPort != 53 || m.Ports[2].ContainerPort != 9000 {
		t.Errorf("parsed %+v", m)
	}
	for _, v := range []string{"", "private"} {
		if m, err := ParseMode(v, nil, false, nil); err != nil || m.Kind != KindSlirp || !reflect.DeepEqual(m.Config, DefaultConfig()) {
			t.Errorf("ParseMode(%q) = %+v, %v; want slirp's defaults", v, m, err)
		}
	}
	m, err = ParseMode("host", []string{"8080:80"}, false, nil)
	if err != nil || m.Kind != KindHost || len(m.Ports) != 0 || len(m.Discarded) != 1 {
		t.Errorf("host with a port: %+v, %v; want it discarded", m, err)
	}
	for bad, want := range map[string]string{
		"bogus":       `network "bogus": want slirp[:OPTIONS], none, host, slirp4netns[:OPTIONS] or pasta[:ARGS]`,
		"none:x":      "network none:x: none takes no options",
		"slirp:mtu=1": "network slirp:mtu=1: network: mtu 1: want 1280..65520",
	} {
		_, err := ParseMode(bad, nil, false, nil)
		var me *ModeError
		if err == nil || err.Error() != want || !errors.As(err, &me) || me.Network != bad {
			t.Errorf("ParseMode(%q) error = %v; want a *ModeError %q", bad, err, want)
		}
	}
	if _, err := ParseMode("bogus", nil, false, nil); !errors.Is(err, ErrUnknownMode) {
		t.Errorf("unknown mode: %v does not wrap ErrUnknownMode", err)
	}
	if _, err := ParseMode("slirp", []string{"x:80"}, false, nil); err == nil || !strings.HasPrefix(err.Error(), "publish ") {
		t.Errorf("bad port: %v", err)
	}
}

func TestAddrs(t *testing.T) {
	m, _ := ParseMode("slirp:allow_host_loopback=true,cidr=10.9.0.0/24", nil, false, nil)
	a, ok := m.Addrs()
	if !ok || a.Container.String() != "10.9.0.100" || a.DNS.String() != "10.9.0.3" || a.Host.String() != "10.9.0.2" {
		t.Errorf("Addrs() = %+v, %v", a, ok)
	}
	if _, ok := (Mode{Kind: KindPasta}).Addrs(); ok {
		t.Error("pasta's addresses are not rless's to say")
	}
}

func TestAnnotatedPorts(t *testing.T) {
	ports, _ := ParsePublish("127.0.0.1:8080-8081:80-81/udp")
	a := map[string]string{}
	AnnotatePorts(a, nil)
	if len(a) != 0 {
		t.Errorf("no ports annotated as %v", a)
	}
	AnnotatePorts(a, ports)
	got, err := AnnotatedPorts(a)
	if err != nil || !reflect.DeepEqual(got, ports) {
		t.Errorf("AnnotatedPorts = %v, %v; want %v", got, err, ports)
	}
	if _, err := AnnotatedPorts(map[string]string{AnnotationPorts: "{"}); err == nil || !strings.Contains(err.Error(), AnnotationPorts) {
		t.Errorf("corrupt annotation: %v", err)
	}
}
