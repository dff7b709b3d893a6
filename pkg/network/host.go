package network

import (
	"net"
	"net/netip"
)

// HostAddress returns the first IPv4 address of an interface of this host
// that is up and neither loopback nor link-local: where a container on a
// userspace network reaches the host through its NAT (the host's
// loopback being out of its reach). ok is false when there is none.
func HostAddress() (addr netip.Addr, ok bool) {
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap().Is4() && !ip.IsLinkLocalUnicast() {
					return ip.Unmap(), true
				}
			}
		}
	}
	return netip.Addr{}, false
}
