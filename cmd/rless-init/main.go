// Command rless-init is the program of the inits of rless's detached
// containers, not a program to run by hand: `make` appends it to
// bin/rless, and the supervisor of detached containers (cmd/rless-supervisor)
// starts each container's init, PID 1 of the container, from it. It is
// rless's container runtime alone (package container), without the
// engine or the command line: a program of 4 MB instead of 9, of which a
// container's init keeps less resident (BENCHMARKS.md, "The supervisor").
package main

import (
	"fmt"
	"os"

	"github.com/rless/rless/pkg/container"
)

func main() {
	// The init, and the exec agent it starts, run here.
	container.Init()
	fmt.Fprintln(os.Stderr, "rless-init: started by rless, not by hand")
	os.Exit(2)
}
