// Command rless-netstack is rless's network stack process, not a program
// to run by hand: `make` appends it to bin/rless, which starts one per
// container of the slirp network mode (see pkg/network/netstack). It keeps
// gVisor's netstack, whose package initialisation costs about a
// millisecond, out of the processes that start containers.
//
// Protocol: argument 1 is the JSON of a network.Config; descriptor 3 is a
// message socket (internal/syncmsg) from rless; descriptors 4 onwards are
// the sockets of the published ports, in the order of the Config's Ports (and then,
// with netstack.FDEnv set, this program itself in a memory file, which
// it closes). rless sends a "tap" message carrying the container's tap
// device, with in its Pid the container's first process (host pid; 0 if
// unknown), where the log of the network's allow-list looks for the
// processes of refused attempts; the stack then runs until rless closes
// the socket or SIGTERM arrives, and exits 0 once every socket of it is
// closed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/rless/rless/internal/logging"
	"github.com/rless/rless/internal/syncmsg"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/network/netstack"
	"github.com/rless/rless/pkg/slirp"
)

// memoryLimit is the stack's soft memory limit (runtime/debug's), unless
// GOMEMLIMIT sets one: the collector runs more often near it, instead of
// letting the heap grow to twice what is live. With 4 parallel streams
// this keeps the peak RSS near 25 MB instead of 34, at the same
// throughput (BENCHMARKS.md).
const memoryLimit = 24 << 20

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		// One thread runs the stack: the goroutines a frame wakes
		// (the tap's reader, the TCP endpoint's processor, the relay)
		// then run one after the other on the thread that was waiting
		// in epoll, instead of each waking a sleeping thread on the
		// other CPU. That halved the round trip's overhead over
		// slirp4netns's, at the same throughput (BENCHMARKS.md).
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	if os.Getenv(logging.Env) == "" {
		logging.Plain()
	}
	logging.FromEnv()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: network stack: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return errors.New("usage: rless-netstack CONFIG-JSON (run by rless)")
	}
	var cfg network.Config
	if err := json.Unmarshal([]byte(os.Args[1]), &cfg); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	conn := syncmsg.FromFD(3)
	defer conn.Close()
	if os.Getenv(netstack.FDEnv) != "" {
		syscall.Close(4 + len(cfg.Ports)) // this program, in a memory file
	}
	files := make([]*os.File, len(cfg.Ports))
	for i := range files {
		files[i] = os.NewFile(uintptr(4+i), "published-port")
	}
	l, err := network.FromFiles(cfg.Ports, files)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m, fds, err := conn.Recv()
	if errors.Is(err, io.EOF) {
		l.Close()
		return nil // the container ended before its network started
	}
	if err != nil || m.Type != syncmsg.Tap || len(fds) < 1 || len(fds) > 2 {
		l.Close()
		return fmt.Errorf("wait for the tap device: %v (message %q)", err, m.Type)
	}
	n, err := slirp.Start(ctx, os.NewFile(uintptr(fds[0]), "tap"), cfg, l)
	if err != nil {
		return err
	}
	if len(fds) == 2 {
		n.SetRelay(os.NewFile(uintptr(fds[1]), "relay"))
	}
	n.SetContainerPID(m.Pid)
	slog.Debug("network stack running")
	// rless closing its end, or dying, ends the network.
	go func() {
		for {
			if _, _, err := conn.Recv(); err != nil {
				stop()
				return
			}
		}
	}()
	<-ctx.Done()
	slog.Debug("network stack stopping")
	err = n.Close()
	slog.Debug("network stack stopped", "err", err)
	return err
}
