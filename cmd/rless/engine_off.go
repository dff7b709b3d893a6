//go:build !rless_engine

package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/rless/rless/internal/payload"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func runPull(cmd *cobra.Command, g *globals, _ *pullFlags, _ []string) error {
	return delegate(cmd, g, true)
}

func runSave(cmd *cobra.Command, g *globals, _ *saveFlags, _ []string) error {
	return delegate(cmd, g, true)
}

func runLoad(cmd *cobra.Command, g *globals, _ *loadFlags, _ []string) error {
	return delegate(cmd, g, true)
}

func runLogin(cmd *cobra.Command, g *globals, _ *loginFlags, _ []string) error {
	return delegate(cmd, g, false)
}

func runLogout(cmd *cobra.Command, g *globals, _ *loginFlags, _ []string) error {
	return delegate(cmd, g, false)
}

// delegate replaces this process with the image engine appended to it,
// with the same arguments, after entering the user namespace when the
// command writes the store.
func delegate(cmd *cobra.Command, g *globals, userNS bool) error {
	if userNS {
		if done, err := inUserNS(cmd, g); done {
			return err
		}
	}
	fd, err := engineFD()
	if err != nil {
		return err
	}
	err = syscall.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), append([]string{"rless"}, os.Args[1:]...), os.Environ())
	return fmt.Errorf("execute the image engine: %w", err)
}

// engineFD copies the engine appended to this program into an executable
// memory file.
func engineFD() (int, error) {
	f, err := payload.Load(payload.Engine)
	if errors.Is(err, payload.ErrNone) {
		return -1, errors.New("this rless was built without its image engine: build it with `make` (or `go build -tags rless_engine,containers_image_openpgp ./cmd/rless`)")
	}
	if err != nil {
		return -1, fmt.Errorf("load the image engine: %w", err)
	}
	// The descriptor outlives f: it is executed by number.
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return -1, fmt.Errorf("load the image engine: %w", err)
	}
	unix.CloseOnExec(fd)
	return fd, nil
}
