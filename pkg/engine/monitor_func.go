//go:build !rless_lean

package engine

import (
	"context"
	"runtime/debug"

	"github.com/rless/rless/pkg/reexec"
)

// The monitor runs in the program that links the image engine and the
// network stack (the whole rless, not its lean front): its stack serves
// the container's network in process.
var _ = reexec.Register("monitor", monitorMain)

// monitorMain is the monitor's body, run by monitorFunc in its process.
func monitorMain(ctx context.Context, a monitorArgs) (monitorResult, error) {
	// A monitor lives long and does little: keep its heap small.
	debug.SetGCPercent(20)
	opts := []Option{WithRoot(a.Root), WithRunRoot(a.RunRoot)}
	e, err := Open(opts...)
	if err != nil {
		return monitorResult{}, err
	}
	e.driver, e.mountProgram = a.Driver, a.MountProgram
	err = e.runMonitor(ctx, a)
	return monitorResult{}, err
}
