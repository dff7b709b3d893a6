// Command rless-init is the program a container's first process executes
// when rless starts it: rless's in-container stage (container.Init), and
// nothing of the command line, so that it starts in less time than the
// whole of rless would, on the critical path of every container start.
// `make` appends it to bin/rless, which extracts it into its run root (see
// cmd/rless/stage.go). It is not a program to run by hand.
package main

import (
	"fmt"
	"os"

	"github.com/rless/rless/pkg/container"
)

func main() {
	container.Init()
	fmt.Fprintln(os.Stderr, "Error: rless-init runs containers for rless, and is not run by hand")
	os.Exit(container.ExitRlessFailed)
}
