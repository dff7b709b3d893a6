package test

import (
	"os"
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
// goes out through a host ICMP socket and its replies come back when the
// host's net.ipv4.ping_group_range holds the user's group; else the run
// says once that the host does not permit it. An address nobody answers
// gets no reply (the stack makes none up); the gateway answers itself.
func TestPing(t *testing.T) {
	host := hostAddr(t).String()
	raw := []string{"--cap-add", "NET_RAW"}
	r := runIn(t, raw, "ping", "-c", "2", "-W", "5", host)
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
	if r := runIn(t, raw, "ping", "-c", "1", "-W", "1", "203.0.113.77"); r.code != 1 || !strings.Contains(r.stdout, "0 packets received") {
		t.Errorf("ping of an address nobody has: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runIn(t, raw, "ping", "-c", "1", "-W", "5", "10.0.2.2"); r.code != 0 || !strings.Contains(r.stdout, "1 packets received") {
		t.Errorf("ping of the gateway: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
