// Package network describes a rootless container's userspace network and
// does the parts of it that need no TCP/IP stack: the configuration and its
// podman-style options (--network slirp:allow_host_loopback=true,mtu=N,
// cidr=A.B.C.D/N), published ports (--publish) and their host sockets, and
// the tap device made inside the container's network namespace.
//
// The stack itself, gVisor's netstack behind that tap, is in package slirp;
// it is kept apart because linking it costs every process start about a
// millisecond, which rless's container processes do not pay.
package network
