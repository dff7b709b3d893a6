package slirp

import (
	"context"
	"errors"
	"os"
	"sync"

	"github.com/rless/rless/pkg/network"
)

func init() {
	network.Register(network.KindSlirp, func(_ context.Context, mode network.Mode, _ network.Options) (network.Driver, error) {
		return NewDriver(mode.Config, mode.Ports)
	})
}

// Driver is a container's slirp network served in the calling process: it
// implements network.Driver with [Start]. Importing this package registers
// it with network.Open for network.KindSlirp, in preference to the stack
// process of package netstack.
type Driver struct {
	cfg       network.Config // with the Ports bound
	listeners *network.Listeners

	mu     sync.Mutex
	net    *Network
	relay  *os.File // the host's end of the container's relay, until Attach
	closed bool
}

var _ network.Driver = (*Driver)(nil)

// NewDriver checks cfg and opens the host sockets of ports (failing when
// one is taken), to serve once Attach has the container's tap device.
func NewDriver(cfg network.Config, ports []network.PortMapping) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l, err := network.Listen(ports)
	if err != nil {
		return nil, err
	}
	cfg.Ports = l.Ports()
	return &Driver{cfg: cfg, listeners: l}, nil
}

// Tap returns the configuration of the container's tap device.
func (d *Driver) Tap() *network.Config {
	cfg := d.cfg
	return &cfg
}

// Attach starts the stack on tap, the container's tap device, and returns:
// the network runs in goroutines of this process until Close. pid, the
// container's first process (0 if unknown), is where the allow-list's log
// looks for the processes of refused attempts (see
// [Network.SetContainerPID]).
func (d *Driver) Attach(_ context.Context, pid int, tap *os.File) error {
	if tap == nil {
		return errors.New("slirp: no tap device")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.net != nil {
		tap.Close()
		return errors.New("slirp: attached already, or closed")
	}
	// The network lives until Close, not as long as the attaching.
	n, err := Start(context.Background(), tap, d.cfg, d.listeners)
	if err != nil {
		d.closed = true
		return err // Start closed tap and the listeners
	}
	n.SetContainerPID(pid)
	if d.relay != nil {
		n.SetRelay(d.relay)
		d.relay = nil
	}
	d.net = n
	return nil
}

// SetRelay makes the network hand the connections of the host's loopback
// clients to sock, the host's end of the container's relay (see
// [Network.SetRelay]), once attached.
func (d *Driver) SetRelay(sock *os.File) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.relay != nil {
		d.relay.Close()
	}
	d.relay = sock
}

// Ports returns the published ports, host ports bound.
func (d *Driver) Ports() []network.PortMapping { return d.cfg.Ports }

// Close stops the network and waits for its goroutines; it closes the
// published ports. It may be called more than once.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.relay != nil {
		d.relay.Close()
		d.relay = nil
	}
	if d.net != nil {
		return d.net.Close()
	}
	return d.listeners.Close()
}
