package proc

import (
	"os/exec"
	"time"
)

// WaitOrKill waits for cmd, a started command, to exit, killing it if it
// has not after d; it reports whether it had to, and returns Wait's error.
func WaitOrKill(cmd *exec.Cmd, d time.Duration) (killed bool, err error) {
	t := time.AfterFunc(d, func() { _ = cmd.Process.Kill() })
	err = cmd.Wait()
	return !t.Stop(), err
}
