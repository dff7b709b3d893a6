package proc

import (
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// WaitOrKill waits for cmd, a started command, to exit, killing it if it
// has not after d; it reports whether it had to, and returns Wait's error.
func WaitOrKill(cmd *exec.Cmd, d time.Duration) (killed bool, err error) {
	t := time.AfterFunc(d, func() { _ = cmd.Process.Kill() })
	err = cmd.Wait()
	return !t.Stop(), err
}

// AwaitExit returns once process pid, a child of this process not reaped
// yet, has ended, so that reaping it (exec.Cmd.Wait) then returns at
// once. It waits in Go's poller, for the process's pidfd to be readable,
// where exec.Cmd.Wait would hold a thread in waitid(2) for as long as the
// child runs: a supervisor of a hundred containers would keep a hundred
// threads. Without pidfds (Linux before 5.3), it returns at once.
func AwaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	c, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = c.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(p, 0)
			if err == unix.EINTR {
				continue
			}
			// Ended, or a poll that fails: Wait will tell.
			return n != 0 || err != nil
		}
	})
}
