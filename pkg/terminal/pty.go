// Package terminal opens pseudo-terminals and relays a host terminal to
// one: raw mode on the host side, window size kept in step.
package terminal

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Open creates a new pseudo-terminal pair from the multiplexer ptmx
// (normally "/dev/ptmx"), and returns the master, the slave, and the
// slave's path.
func Open(ptmx string) (master, slave *os.File, name string, err error) {
	mfd, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, "", fmt.Errorf("open %s: %w", ptmx, err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, "", fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, whatever mount the
	// path of the slave would resolve to.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	sfd := int(r)
	if errno != 0 {
		err = errno
		unix.Close(mfd)
		return nil, nil, "", fmt.Errorf("open pty slave: %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		unix.Close(sfd)
		return nil, nil, "", fmt.Errorf("pty number: %w", err)
	}
	name = "/dev/pts/" + strconv.Itoa(int(n))
	return os.NewFile(uintptr(mfd), "ptmx"), os.NewFile(uintptr(sfd), name), name, nil
}

// Size is a terminal's size in characters.
type Size struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// GetSize returns the size of the terminal f.
func GetSize(f *os.File) (Size, error) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return Size{}, err
	}
	return Size{Rows: ws.Row, Cols: ws.Col}, nil
}

// SetSize sets the size of the terminal f.
func SetSize(f *os.File, s Size) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: s.Rows, Col: s.Cols})
}
