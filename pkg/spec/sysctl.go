package spec

import (
	"fmt"
	"strings"
	"unicode"
)

// PingGroupRange is the kernel parameter of the groups that may open ICMP
// echo sockets; a container with a network namespace of its own gets
// "0 0" unless it sets it (podman's default).
const PingGroupRange = "net.ipv4.ping_group_range"

// ParseSysctl parses podman's --sysctl KEY=VALUE: a dotted kernel
// parameter name such as net.ipv4.ip_forward and the value to write to it
// (spaces around either are dropped). Whether the container may set KEY is
// the runtime's decision.
func ParseSysctl(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	switch {
	case !ok:
		return "", "", fmt.Errorf("sysctl %q: want KEY=VALUE", s)
	case k == "":
		return "", "", fmt.Errorf("sysctl %q: no key", s)
	case v == "":
		return "", "", fmt.Errorf("sysctl %q: no value", s)
	case strings.ContainsFunc(k, func(r rune) bool { return r == '/' || r == 0 || unicode.IsSpace(r) }):
		return "", "", fmt.Errorf("sysctl %q: bad key %q (want a dotted name such as net.ipv4.ip_forward)", s, k)
	case strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, ".."):
		return "", "", fmt.Errorf("sysctl %q: bad key %q (empty name component)", s, k)
	}
	return k, v, nil
}
