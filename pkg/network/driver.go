package network

import (
	"context"
	"os"
)

// Driver connects a container's network namespace to the outside. The
// process that owns the container owns its driver.
type Driver interface {
	// Tap returns the configuration of the tap device the container's first
	// process makes in its network namespace and hands to Attach, or nil when
	// the driver joins the namespace from outside instead.
	Tap() *Config
	// Attach connects the container whose first process is pid (its
	// namespaces exist). For a tap driver, tap is that device (Attach owns it
	// and closes it, on failure too) and the container's command may start
	// before Attach returns; otherwise tap is nil and the command starts once
	// Attach has returned.
	Attach(ctx context.Context, pid int, tap *os.File) error
	// Ports returns the published ports, host ports bound.
	Ports() []PortMapping
	// Close stops the network (after the container has ended) and waits for its processes.
	Close() error
}
