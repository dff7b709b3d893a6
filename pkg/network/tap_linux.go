package network

import (
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TunUsable reports whether the calling user may open /dev/net/tun, which
// CreateTap needs (distributions open it to all; some machines leave it to
// root).
func TunUsable() bool { return unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK) == nil }

// CreateTap creates the tap device name in the calling thread's network
// namespace and configures it from cfg: MTU, the container address (host 100
// of cfg.CIDR), link up, and a default route via the gateway. It also brings
// up the loopback interface. It needs CAP_NET_ADMIN in the namespace and an
// openable /dev/net/tun.
//
// The device lives as long as the returned file, or a copy of its
// descriptor, stays open; pass it to [Start] on the host side.
func CreateTap(name string, cfg Config) (*os.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create tap %s: open /dev/net/tun: %w", name, err)
	}
	tap := os.NewFile(uintptr(fd), "/dev/net/tun")
	ok := false
	defer func() {
		if !ok {
			tap.Close()
		}
	}()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fmt.Errorf("create tap %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("create tap %s: TUNSETIFF: %w", name, err)
	}
	// Persistent: closing the last descriptor then does not unregister
	// the device there and then (which waits for RCU grace periods, tens
	// of milliseconds); it goes with its network namespace, whose clean-up
	// the kernel does in the background.
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return nil, fmt.Errorf("create tap %s: TUNSETPERSIST: %w", name, err)
	}
	if err := configureLink(name, cfg); err != nil {
		return nil, fmt.Errorf("create tap %s: %w", name, err)
	}
	ok = true
	return tap, nil
}

func configureLink(name string, cfg Config) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link: %w", err)
	}
	if err := netlink.LinkSetMTU(link, cfg.MTU); err != nil {
		return fmt.Errorf("set mtu %d: %w", cfg.MTU, err)
	}
	ca := cfg.ContainerAddr()
	addr := &netlink.Addr{IPNet: &net.IPNet{
		IP:   ca.Addr().AsSlice(),
		Mask: net.CIDRMask(ca.Bits(), 32),
	}}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("add address %v: %w", ca, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: cfg.Gateway().AsSlice()}
	if err := netlink.RouteAdd(route); err != nil {
		return fmt.Errorf("add default route via %v: %w", cfg.Gateway(), err)
	}
	return nil
}
