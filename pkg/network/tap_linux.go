package network

import (
	"fmt"
	"log/slog"
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
// namespace and configures it from cfg: MTU, the container addresses (host
// 100 of cfg.CIDR and of Subnet6, unless cfg.NoIPv6), link up, and default
// routes via the gateway. It also brings up the loopback interface. It needs CAP_NET_ADMIN in the namespace and an
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
	if cfg.NoIPv6 {
		return nil
	}
	// IPv6: the address without duplicate address detection (nothing
	// else is on the link, and it is usable at once), a default route via
	// the gateway.
	ca6 := cfg.ContainerAddr6()
	addr6 := &netlink.Addr{IPNet: &net.IPNet{IP: ca6.Addr().AsSlice(), Mask: net.CIDRMask(ca6.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrAdd(link, addr6); err != nil {
		// A kernel without IPv6 (ipv6.disable=1): the link stays IPv4.
		slog.Debug("tap: no IPv6", "err", err)
		return nil
	}
	_, any6, _ := net.ParseCIDR("::/0")
	route6 := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: any6, Gw: cfg.Gateway6().AsSlice()}
	if err := netlink.RouteAdd(route6); err != nil {
		return fmt.Errorf("add default route via %v: %w", cfg.Gateway6(), err)
	}
	return nil
}
