// Package testenv says what the test harness promises of the machine the
// tests run on.
package testenv

import (
	"fmt"
	"net"
	"os"
	"testing"
)

// Env is the variable by which the harness promises the optional
// dependencies: hack/test.sh sets it to 1 when it runs as root (as CI does),
// after hack/deps.sh installed slirp4netns, pasta and fuse-overlayfs and
// opened /dev/net/tun and /dev/fuse to all.
const Env = "RLESS_TEST_EXPECT_DEPS"

// ExpectDeps reports whether the harness promises the optional
// dependencies (Env=1). An unknown value of Env fails t.
func ExpectDeps(t testing.TB) bool {
	t.Helper()
	switch v := os.Getenv(Env); v {
	case "", "0":
		return false
	case "1":
		return true
	default:
		t.Fatalf("%s=%q, want 1, 0 or nothing", Env, v)
		return false
	}
}

// SkipWithout skips t because an optional dependency is missing, as why
// says, or fails it when the harness promised the dependencies: a machine
// of a user may lack them, CI's may not.
func SkipWithout(t testing.TB, why string) {
	t.Helper()
	if ExpectDeps(t) {
		t.Fatalf("%s=1, but %s (hack/deps.sh provides it)", Env, why)
	}
	t.Skip(why)
}

// EgressAddrs are two host addresses outside the private, loopback and
// link-local ranges, on the loopback device, that hack/as-user.sh adds as
// root: servers of the network allow-list tests listen on them, since a
// name resolving to a private address is refused by the allow-list.
var EgressAddrs = [2]string{"198.51.100.10", "198.51.100.11"}

// NeedEgressAddrs skips t (or fails it, where the harness promised its
// setup) unless both EgressAddrs are addresses of this host.
func NeedEgressAddrs(t testing.TB) {
	t.Helper()
	for _, a := range EgressAddrs {
		l, err := net.Listen("tcp", net.JoinHostPort(a, "0"))
		if err != nil {
			SkipWithout(t, fmt.Sprintf("%s is not an address of this host (hack/as-user.sh adds it to lo as root)", a))
			return
		}
		l.Close()
	}
}

// SmallFS returns an empty directory on a small filesystem (a few MB) of
// the test user's, to fill in the tests of a full disk: the one
// hack/as-user.sh mounts as root ($RLESS_TEST_SMALLFS). It skips t (or
// fails it, where the harness promised its setup) when there is none.
func SmallFS(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RLESS_TEST_SMALLFS")
	if dir == "" {
		SkipWithout(t, "no small filesystem to fill (hack/as-user.sh mounts one as root: RLESS_TEST_SMALLFS)")
		return ""
	}
	sub, err := os.MkdirTemp(dir, "t")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}
