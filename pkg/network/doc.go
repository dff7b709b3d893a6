// Package network describes a rootless container's userspace network and
// does the parts of it that need no TCP/IP stack: the configuration and its
// podman-style options (--network slirp:allow_host_loopback=true,mtu=N,
// cidr=A.B.C.D/N), published ports (--publish) and their host sockets, and
// the tap device made inside the container's network namespace.
//
// It also parses the network modes ([ParseMode]: slirp, none, host,
// slirp4netns, pasta) and defines the [Driver] interface that connects a
// container's network namespace to the outside, whichever the mode. [Open]
// picks a mode's driver among those registered ([Register]) by the driver
// packages a program imports: pkg/network/external (slirp4netns, pasta),
// pkg/network/netstack (the userspace stack as a process of its own, the
// fallback for the slirp kind) and pkg/slirp (the stack in the calling
// process, preferred when linked). None and host need no driver.
//
// The stack itself, gVisor's netstack behind that tap, is in package slirp;
// it is kept apart because linking it costs every process start about a
// millisecond, which rless's container processes do not pay.
package network
