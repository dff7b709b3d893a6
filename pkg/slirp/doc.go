// Package slirp gives a container's network namespace a userspace TCP/IP
// stack wired to the host's sockets, in the manner of slirp4netns, with DNS
// and published ports, and without privileges on the host.
//
// The work is split between two sides:
//
//   - Inside the container's network namespace, a process with CAP_NET_ADMIN
//     there (root of the user namespace that owns it) calls [network.CreateTap]. It
//     creates a tap device with the container's address and default route, and
//     returns the tap's file descriptor, which the caller passes to the host
//     side (typically over a unix socket with SCM_RIGHTS).
//   - On the host, the launcher first opens the published ports with [network.Listen],
//     before the container's command starts, so that a port already taken
//     fails the run. It then calls [Start] with the tap and the listeners; the
//     returned [Network] runs gVisor's netstack in goroutines of the calling
//     process until [Network.Close].
//
// [Driver] does both host-side steps behind the network.Driver interface
// ([NewDriver] opens the ports, Attach starts the stack on the tap), and
// importing this package registers it with network.Open for the slirp
// kind: a program that links this package serves its containers' networks
// in process, one that does not (rless's command line) from a process of
// its own (package netstack).
//
// Addresses follow podman's slirp4netns defaults: in 10.0.2.0/24 the
// container is 10.0.2.100, the gateway 10.0.2.2 and the DNS forwarder
// 10.0.2.3. Connections the container opens to any other address are made
// from the host with ordinary sockets (NAT); DNS queries to 10.0.2.3 are
// relayed to the host's resolvers, loopback ones included. The host's
// loopback is reachable as 10.0.2.2 only with AllowHostLoopback.
//
// With Config.Egress, the stack enforces an allow-list ([network.Egress])
// on every connection: queries to the DNS address (over UDP or TCP) for
// names it does not allow are answered NXDOMAIN by the stack; the public
// addresses that answers for allowed names give become reachable, and a
// TLS ClientHello's server name or an HTTP request's Host on a connection
// to one must be a name that led there; IP and CIDR entries allow their
// addresses whatever the name. Everything else is refused (reset, port
// unreachable) and, with Egress.Log, logged with the container's process
// that tried (see [Network.SetContainerPID]).
package slirp
