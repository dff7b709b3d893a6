// Command run-rootfs shows rless used as a library: it runs a command in a
// rootless container whose root filesystem is a directory.
//
//	run-rootfs /path/to/rootfs echo hello
//
// It is what `rless run --rootfs DIR CMD...` does, without the flags.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/userns"
)

func main() {
	// First thing in main: the container's first process is this program,
	// re-executed, and Init runs it.
	container.Init()

	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: run-rootfs ROOTFS COMMAND [ARG...]")
		os.Exit(2)
	}
	code, err := run(os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(container.ExitCodeOf(err))
	}
	os.Exit(code)
}

func run(rootfs string, args []string) (int, error) {
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
	s, err := spec.New(spec.Options{
		Rootfs:   rootfs,
		Args:     args,
		Hostname: id[:12],
		Init:     true,
		Mapping:  mapping,
	})
	if err != nil {
		return 0, err
	}
	// Run it to the end, with this program's standard streams.
	return container.Run(context.Background(), container.Config{
		ID: id, Spec: s, Host: host, Mapping: mapping,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		ProxySignals: true,
	})
}
