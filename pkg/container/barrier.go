package container

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rless/rless/internal/proc"
	"golang.org/x/sys/unix"
)

// The barrier between Create and Start is a fifo in the state directory,
// as runc's: the container's init, ready, opens it for writing, which
// blocks until Start opens it for reading, in any process of the user.

// openBarrier releases a created container whose first process is pid:
// it opens the start fifo of state directory dir and reads the byte the
// init writes there, giving up when ctx is done or the process is gone.
func openBarrier(ctx context.Context, dir string, pid int) error {
	fifo := filepath.Join(dir, startFifo)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 1)
	released := false
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case n == 1 && !released:
			// The init goes on; it closes its end once the command is
			// executed (or has failed to be).
			released = true
			_ = unix.Unlink(fifo)
			continue
		case n == 0 && released:
			return nil
		case err != nil && !errors.Is(err, unix.EAGAIN):
			return fmt.Errorf("start: %w", err)
		}
		// Nothing yet (n == 0 before the byte: no writer has opened it).
		if !proc.Alive(pid) {
			if released {
				return nil
			}
			return errors.New("start: the container's init is gone")
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(fds, 20)
		if !released && fds[0].Revents&unix.POLLHUP != 0 && fds[0].Revents&unix.POLLIN == 0 {
			// No writer: POLLHUP stays set until one opens it.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// waitBarrier, in the container's init, waits until the container is
// started: it opens the start fifo of the state directory (dirfd) for
// writing, which blocks until Start opens it, and writes one byte. It
// returns the fifo, open (close-on-exec): Start reads on until it closes,
// which the init does once the command is executed (execve closes it).
func waitBarrier(dirfd int) (int, error) {
	fd, err := unix.Openat(dirfd, startFifo, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("wait for start: %w", err)
	}
	if _, err := unix.Write(fd, []byte{1}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("wait for start: %w", err)
	}
	return fd, nil
}

// openExitAt makes the (empty) file of the command's exit status in the
// state directory dirfd, from the container's init, and returns it open
// for writeExitAt (-1 on failure: the status is then not recorded there).
// Only this file stays open in the init, not the directory.
func openExitAt(dirfd int) int {
	fd, err := unix.Openat(dirfd, exitFile, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1
	}
	return fd
}

// writeExitAt records the command's exit status in the file openExitAt
// opened.
func writeExitAt(fd, code int) {
	if fd < 0 {
		return
	}
	_, _ = unix.Pwrite(fd, []byte(fmt.Sprint(code)), 0)
	unix.Close(fd)
}

// pidfd opens a pidfd of process pid if it is the process that started at
// startTime (0: any).
func pidfd(pid int, startTime uint64) (int, error) {
	if pid <= 0 {
		return -1, unix.ESRCH
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, err
	}
	// Opened first, checked next: a pid reused meanwhile would show
	// another start time.
	if startTime != 0 {
		if t, err := proc.StartTime(pid); err != nil || t != startTime {
			unix.Close(fd)
			return -1, unix.ESRCH
		}
	}
	return fd, nil
}

// signalProcess sends sig to process pid, started at startTime.
func signalProcess(pid int, startTime uint64, sig unix.Signal) error {
	fd, err := pidfd(pid, startTime)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}

// waitGone waits until process pid, started at startTime, has ended, or
// ctx is done.
func waitGone(ctx context.Context, pid int, startTime uint64) error {
	fd, err := pidfd(pid, startTime)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 50)
		if n > 0 {
			return nil
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// A zombie no one reaps (its parent is gone, or not waiting) is
		// gone for its container.
		if !proc.Alive(pid) {
			return nil
		}
	}
}
