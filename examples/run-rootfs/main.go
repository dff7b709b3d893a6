// Command run-rootfs shows rless used as a library: it runs a command in a
// rootless container whose root filesystem is a directory.
//
//	run-rootfs [-net] [-stop-signal SIG] [-stop-timeout DURATION] /path/to/rootfs echo hello
//
// It is what `rless run --rootfs DIR CMD...` does, without most flags. A
// SIGINT or SIGTERM it receives stops the container gracefully: the
// container gets its stop signal (SIGTERM unless -stop-signal says
// otherwise), and is killed if it is still there -stop-timeout later. With
// -net the container has a userspace network (10.0.2.100 behind 10.0.2.2),
// served by gVisor's netstack in this program; without it, only loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/slirp"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/userns"
)

func main() {
	// First thing in main: the container's first process is this program,
	// re-executed, and Init runs it.
	container.Init()

	stopSignal := flag.String("stop-signal", "", "signal that stops the container (default SIGTERM)")
	stopTimeout := flag.Duration("stop-timeout", container.DefaultStopTimeout, "time the container has to stop before it is killed")
	withNet := flag.Bool("net", false, "give the container a userspace network")
	flag.Parse()
	if flag.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: run-rootfs [-stop-signal SIG] [-stop-timeout D] ROOTFS COMMAND [ARG...]")
		os.Exit(2)
	}
	// SIGINT and SIGTERM end ctx, which stops the container.
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	code, err := run(ctx, flag.Arg(0), flag.Args()[1:], *stopSignal, *stopTimeout, *withNet)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(container.ExitCodeOf(err))
	}
	os.Exit(code)
}

func run(ctx context.Context, rootfs string, args []string, stopSignal string, stopTimeout time.Duration, withNet bool) (int, error) {
	// What this host offers: the user's subordinate ids and newuidmap.
	host, err := userns.DetectHost()
	if err != nil {
		return 0, err
	}
	mapping, fallback := host.Mapping()
	if fallback != "" {
		fmt.Fprintln(os.Stderr, "warning:", fallback)
	}
	// The OCI spec of the container: podman's defaults.
	id := container.NewID()
	opts := spec.Options{
		Rootfs:     rootfs,
		Args:       args,
		Hostname:   id[:12],
		Init:       true,
		Mapping:    mapping,
		StopSignal: stopSignal,
	}
	// The network's driver: gVisor's netstack in this program
	// (slirp.NewDriver), the container's tap device served here.
	var net network.Driver
	if withNet {
		d, err := slirp.NewDriver(network.DefaultConfig(), nil)
		if err != nil {
			return 0, err
		}
		net = d
		opts.Network, opts.Slirp = spec.NetworkSlirp, d.Tap()
	}
	s, err := spec.New(opts)
	if err != nil {
		return 0, err
	}
	// Run it to the end, with this program's standard streams.
	cfg := container.Config{
		ID: id, Spec: s, Host: host, Mapping: mapping,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StopTimeout: stopTimeout,
	}
	if net != nil {
		// The container's stage makes the tap device and Run hands it
		// to the driver, which serves it until the container has ended.
		cfg.Network = net
	}
	return container.Run(ctx, cfg)
}
