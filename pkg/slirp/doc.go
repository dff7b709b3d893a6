// Package slirp will give a container's network namespace a userspace
// TCP/IP stack wired to the host's sockets, with DNS and published ports.
//
// Nothing is implemented here yet: today a container has either only a
// loopback interface (--network none) or the host's network (--network host).
package slirp
