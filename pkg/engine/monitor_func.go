package engine

import (
	"context"

	"github.com/rless/rless/pkg/reexec"
)

// The monitor runs in the program that starts it: in rless's lean front,
// which costs a container least (the image engine links containers/image,
// whose processes are larger and slower to start), with the built-in
// network's stack a process of its own; in a program that links gVisor
// (pkg/slirp), in the monitor.
var _ = reexec.Register("monitor", monitorMain)

// monitorMain is the monitor's body, run by monitorFunc in its process.
func monitorMain(ctx context.Context, a monitorArgs) (monitorResult, error) {
	opts := []Option{WithRoot(a.Root), WithRunRoot(a.RunRoot)}
	e, err := Open(opts...)
	if err != nil {
		return monitorResult{}, err
	}
	e.driver, e.mountProgram = a.Driver, a.MountProgram
	err = e.runMonitor(ctx, a)
	return monitorResult{}, err
}
