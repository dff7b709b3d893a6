package network

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// rtnl is a route netlink socket, for the few requests that configure a
// container's link (configureLink). Each request waits for its
// acknowledgement in one small buffer: the container's init makes them,
// and what it allocates stays in its memory for as long as the container
// runs (a netlink library's 64 KiB receive buffer per request did).
type rtnl struct {
	fd  int
	seq uint32
	buf []byte
}

// openRtnl opens a route netlink socket in the calling thread's network
// namespace.
func openRtnl() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return &rtnl{fd: fd, buf: make([]byte, 4096)}, nil
}

func (r *rtnl) close() { unix.Close(r.fd) }

// request sends a message of type typ whose body is body (a fixed header
// and its attributes) and waits for the kernel's acknowledgement.
func (r *rtnl) request(typ uint16, flags uint16, body []byte) error {
	r.seq++
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	msg = append(msg, body...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], r.seq)
	if err := unix.Sendto(r.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	for {
		n, _, err := unix.Recvfrom(r.fd, r.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for b := r.buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return fmt.Errorf("netlink: malformed reply")
			}
			t, seq := binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint32(b[8:])
			if seq == r.seq && t == unix.NLMSG_ERROR {
				if l < unix.SizeofNlMsghdr+4 {
					return fmt.Errorf("netlink: malformed reply")
				}
				if e := int32(binary.NativeEndian.Uint32(b[unix.SizeofNlMsghdr:])); e != 0 {
					return unix.Errno(-e)
				}
				return nil
			}
			b = b[(l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1):]
		}
	}
}

// attr appends a route attribute of type typ holding data to b.
func attr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for ; l%unix.RTA_ALIGNTO != 0; l++ {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// setLink sets the link with index i up, and its MTU if mtu is not 0.
func (r *rtnl) setLink(i int, mtu int) error {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(i))    // index
	binary.NativeEndian.PutUint32(b[8:], unix.IFF_UP)  // flags
	binary.NativeEndian.PutUint32(b[12:], unix.IFF_UP) // change
	if mtu != 0 {
		b = attr(b, unix.IFLA_MTU, u32(uint32(mtu)))
	}
	return r.request(unix.RTM_NEWLINK, 0, b)
}

// addAddr adds the address p (an address and its prefix length) to the
// link with index i; flags are IFA_F_ flags (IFA_F_NODAD).
func (r *rtnl) addAddr(i int, p netip.Prefix, flags uint8) error {
	a := p.Addr()
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = family(a)
	b[1] = uint8(p.Bits())
	b[2] = flags
	b[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(b[4:], uint32(i))
	b = attr(b, unix.IFA_LOCAL, a.AsSlice())
	b = attr(b, unix.IFA_ADDRESS, a.AsSlice())
	if a.Is4() && p.Bits() < 31 {
		bc := a.As4()
		for j := p.Bits(); j < 32; j++ {
			bc[j/8] |= 0x80 >> (j % 8)
		}
		b = attr(b, unix.IFA_BROADCAST, bc[:])
	}
	return r.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b)
}

// addDefaultRoute adds the default route of gw's family via gw, out of
// the link with index i.
func (r *rtnl) addDefaultRoute(i int, gw netip.Addr) error {
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = family(gw)
	b[4] = unix.RT_TABLE_MAIN
	b[5] = unix.RTPROT_BOOT
	b[6] = unix.RT_SCOPE_UNIVERSE
	b[7] = unix.RTN_UNICAST
	b = attr(b, unix.RTA_GATEWAY, gw.AsSlice())
	b = attr(b, unix.RTA_OIF, u32(uint32(i)))
	return r.request(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b)
}

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// linkIndex returns the index of the link called name.
func linkIndex(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}
