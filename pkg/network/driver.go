package network

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
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
	//
	// A tap driver needs no pid: a caller that does not know it passes 0.
	// ctx bounds the attaching only: the network runs until Close.
	Attach(ctx context.Context, pid int, tap *os.File) error
	// Ports returns the published ports, host ports bound.
	Ports() []PortMapping
	// Close stops the network (after the container has ended) and waits for its processes.
	Close() error
}

// Stopper is implemented by drivers whose network can be told to stop
// without waiting for it to end: an owner calls Stop as soon as the
// container has ended and Close last, so that the network's exit overlaps
// the owner's own clean-up. Close alone does both.
type Stopper interface {
	// Stop tells the network to stop and returns at once. It may be
	// called more than once, and before Attach.
	Stop()
}

// Relayer is implemented by tap drivers that can hand connections from
// the host's loopback to a process of the container's namespace, which
// relays them to the container's port in the kernel (package relay).
type Relayer interface {
	// SetRelay gives the driver the host's end of the relay socket,
	// before Attach; it owns it from then on.
	SetRelay(sock *os.File)
}

// AttachRelay gives sock, the host's end of a relay socket, to d if it is
// a [Relayer], and closes it otherwise.
func AttachRelay(d Driver, sock *os.File) {
	if r, ok := d.(Relayer); ok {
		r.SetRelay(sock)
		return
	}
	sock.Close()
}

// Stop tells d to stop without waiting if it is a [Stopper], and does
// nothing otherwise (nor for a nil d).
func Stop(d Driver) {
	if s, ok := d.(Stopper); ok {
		s.Stop()
	}
}

// Options are what [Open] needs besides the mode.
type Options struct {
	// RunRoot is a directory private to the user, on a tmpfs preferably
	// (rless's run root): where the stack's program is extracted, and
	// the external programs' API sockets and pid files are made.
	RunRoot string
}

// OpenFunc opens the driver of a mode: it starts what can start before
// the container (a taken host port fails it), the rest waits for Attach.
type OpenFunc func(ctx context.Context, mode Mode, opts Options) (Driver, error)

// The registered drivers (see Register).
var (
	driversMu sync.Mutex
	drivers   = map[Kind]OpenFunc{}
	fallbacks = map[Kind]OpenFunc{}
)

// Register makes [Open] use open for the modes of kind. Packages of
// drivers call it from an init function, so that importing one is what
// makes its modes available. A driver of kind registered by Register is
// used rather than one registered by [RegisterFallback], whatever the
// order of their init functions; registering kind twice with Register
// panics.
func Register(kind Kind, open OpenFunc) {
	register(drivers, kind, open)
}

// RegisterFallback makes [Open] use open for the modes of kind when no
// driver is registered for it with [Register].
func RegisterFallback(kind Kind, open OpenFunc) {
	register(fallbacks, kind, open)
}

func register(m map[Kind]OpenFunc, kind Kind, open OpenFunc) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if _, dup := m[kind]; dup {
		panic(fmt.Sprintf("network: a driver of %s registered twice", kind))
	}
	m[kind] = open
}

// driverPackage names the package whose import registers kind's driver.
func driverPackage(kind Kind) string {
	switch kind {
	case KindSlirp:
		return "github.com/rless/rless/pkg/network/netstack (a process of its own) or github.com/rless/rless/pkg/slirp (in process)"
	case KindSlirp4netns, KindPasta:
		return "github.com/rless/rless/pkg/network/external"
	}
	return ""
}

// Open returns the driver of mode, or nil for the kinds none and host,
// which need none: it opens the published ports (failing when one is
// taken) and starts what can start before the container, so that the
// network's start-up overlaps the container's. The caller owns the driver:
// it hands the driver's tap device to Attach, or calls Attach with the
// container's first process, and calls Close once the container has ended.
// On failure nothing is left open.
//
// Open uses the driver registered for mode.Kind (see [Register]); import
// the packages of the drivers the program offers:
//
//   - github.com/rless/rless/pkg/network/external: slirp4netns and pasta;
//   - github.com/rless/rless/pkg/network/netstack: the slirp kind served by
//     a process of its own, the rless-netstack program appended to the
//     running one (rless's command line; the process that links it pays
//     nothing for gVisor);
//   - github.com/rless/rless/pkg/slirp: the slirp kind served by gVisor's
//     netstack in the calling process (preferred when both are imported).
func Open(ctx context.Context, mode Mode, opts Options) (Driver, error) {
	if !mode.Kind.Own() {
		return nil, nil
	}
	driversMu.Lock()
	open := drivers[mode.Kind]
	if open == nil {
		open = fallbacks[mode.Kind]
	}
	driversMu.Unlock()
	if open == nil {
		if pkg := driverPackage(mode.Kind); pkg != "" {
			return nil, fmt.Errorf("network %s: no driver registered: import %s", mode.Kind, pkg)
		}
		return nil, fmt.Errorf("network %q: %w", mode.Kind, ErrUnknownMode)
	}
	d, err := open(ctx, mode, opts)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// AnnotationPorts, in a container's OCI spec, records its published ports
// (as JSON, host ports bound), for `rless port` and its like.
const AnnotationPorts = "io.rless.ports"

// AnnotatePorts records ports in a, a spec's annotations, under
// AnnotationPorts; it records nothing when there are none.
func AnnotatePorts(a map[string]string, ports []PortMapping) {
	if len(ports) > 0 {
		data, _ := json.Marshal(ports)
		a[AnnotationPorts] = string(data)
	}
}

// AnnotatedPorts returns the published ports a, a container's spec
// annotations, records (see [AnnotatePorts]); none when it records none.
func AnnotatedPorts(a map[string]string) ([]PortMapping, error) {
	v := a[AnnotationPorts]
	if v == "" {
		return nil, nil
	}
	var ports []PortMapping
	if err := json.Unmarshal([]byte(v), &ports); err != nil {
		return nil, fmt.Errorf("%s: %w", AnnotationPorts, err)
	}
	return ports, nil
}
