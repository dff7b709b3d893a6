package spec

import (
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/userns"
)

func TestSysctlParse(t *testing.T) {
	for _, c := range []struct {
		in, key, value, err string
	}{
		{in: "net.ipv4.ip_forward=1", key: "net.ipv4.ip_forward", value: "1"},
		{in: " kernel.shmmax = 65536 ", key: "kernel.shmmax", value: "65536"},
		{in: "kernel.sem=250 32000 100 128", key: "kernel.sem", value: "250 32000 100 128"},
		{in: "net.ipv4.ping_group_range=0=1", key: "net.ipv4.ping_group_range", value: "0=1"},
		{in: "net.ipv4.ip_forward", err: "want KEY=VALUE"},
		{in: "=1", err: "no key"},
		{in: "net.ipv4.ip_forward=", err: "no value"},
		{in: "net/ipv4/ip_forward=1", err: "bad key"},
		{in: "net.ipv4 .x=1", err: "bad key"},
		{in: "net..x=1", err: "empty name component"},
		{in: ".net=1", err: "empty name component"},
	} {
		k, v, err := ParseSysctl(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSysctl(%q) = %q, %q, %v; want an error with %q", c.in, k, v, err, c.err)
			}
			continue
		}
		if err != nil || k != c.key || v != c.value {
			t.Errorf("ParseSysctl(%q) = %q, %q, %v; want %q, %q", c.in, k, v, err, c.key, c.value)
		}
	}
}

func TestSysctlInSpec(t *testing.T) {
	in := map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536"}
	s, err := New(Options{Args: []string{"sh"}, Sysctl: in})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536", PingGroupRange: "0 0"}
	if !reflect.DeepEqual(s.Linux.Sysctl, want) {
		t.Errorf("linux.sysctl = %v, want %v", s.Linux.Sysctl, want)
	}
	in["kernel.shmmax"] = "1"
	if s.Linux.Sysctl["kernel.shmmax"] != "65536" {
		t.Error("the spec shares the options' map")
	}
	// podman's default, in a network namespace of the container's own,
	// unless set.
	for _, c := range []struct {
		o    Options
		want map[string]string
	}{
		{Options{Args: []string{"sh"}}, map[string]string{PingGroupRange: "0 0"}},
		{Options{Args: []string{"sh"}, Sysctl: map[string]string{PingGroupRange: "1 0"}}, map[string]string{PingGroupRange: "1 0"}},
		{Options{Args: []string{"sh"}, Network: NetworkHost}, nil},
		// The sandbox's mapping, without group 0: nothing to allow.
		{Options{Args: []string{"sh"}, Mapping: userns.Mapping{
			UIDs: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 1000, Size: 1}},
			GIDs: []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 1000, Size: 1}},
		}}, nil},
	} {
		s, err = New(c.o)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.Linux.Sysctl, c.want) {
			t.Errorf("linux.sysctl = %v with network %q and sysctls %v, want %v", s.Linux.Sysctl, c.o.Network, c.o.Sysctl, c.want)
		}
	}
}
