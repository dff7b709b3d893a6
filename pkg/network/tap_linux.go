package network

import (
	"fmt"
	"log/slog"
	"os"

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
	r, err := openRtnl()
	if err != nil {
		return err
	}
	defer r.close()
	lo, err := linkIndex("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := r.setLink(lo, 0); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	link, err := linkIndex(name)
	if err != nil {
		return fmt.Errorf("find link: %w", err)
	}
	if !cfg.NoIPv6 {
		quietIPv6(name)
	}
	ca := cfg.ContainerAddr()
	if err := r.addAddr(link, ca, 0); err != nil {
		return fmt.Errorf("add address %v: %w", ca, err)
	}
	if err := r.setLink(link, cfg.MTU); err != nil {
		return fmt.Errorf("set mtu %d and up: %w", cfg.MTU, err)
	}
	if err := r.addDefaultRoute(link, cfg.Gateway()); err != nil {
		return fmt.Errorf("add default route via %v: %w", cfg.Gateway(), err)
	}
	if cfg.NoIPv6 {
		return nil
	}
	ca6 := cfg.ContainerAddr6()
	if err := r.addAddr(link, ca6, unix.IFA_F_NODAD); err != nil {
		slog.Debug("tap: no IPv6", "err", err)
		return nil
	}
	if err := r.addDefaultRoute(link, cfg.Gateway6()); err != nil {
		return fmt.Errorf("add default route via %v: %w", cfg.Gateway6(), err)
	}
	return nil
}

// quietIPv6 has the kernel send none of the IPv6 messages of a link
// coming up that serve no purpose on the container's tap, whose addresses
// and routes rless sets: router solicitations (which no router answers,
// repeated for as long as the container runs, less and less often) and
// duplicate address detection of its link-local address (the stack on
// the other side is the only other node). Each would wake the network
// stack. Best effort: the link works without.
func quietIPv6(name string) {
	for _, c := range []string{"router_solicitations", "accept_dad"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/"+c, []byte("0"), 0); err != nil {
			slog.Debug("tap: ipv6 "+c, "err", err)
		}
	}
}
