// Command rless-supervisor is the supervisor of rless's detached
// containers, not a program to run by hand: `make` appends it to
// bin/rless, whose `run -d` and `start` start it when none runs (see
// pkg/engine, supervisor.go). It is rless's engine without its image part
// (built with the tag rless_lean: no containers/image) and with gVisor's
// netstack (the tag rless_netin: the containers' built-in networks served
// in this process, a goroutine each), without the command line: the
// smallest program that runs the monitors, about 8.6 MB against the
// command's 13 MB, of which a supervisor keeps mapped only what it runs
// once its containers have started (see internal/workingset).
package main

import (
	"fmt"
	"os"

	"github.com/rless/rless/pkg/engine"
)

func main() {
	// The supervisor runs here, through the engine's re-executed calls.
	engine.Init()
	fmt.Fprintln(os.Stderr, "rless-supervisor: started by rless (run -d, start), not by hand")
	os.Exit(2)
}
