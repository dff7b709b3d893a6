//go:build !rless_engine

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/rless/rless/internal/payload"
	"github.com/spf13/cobra"
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
	f, err := payload.Load(payload.Engine)
	if errors.Is(err, payload.ErrNone) {
		return errors.New("this rless was built without its image engine: build it with `make` (or `go build -tags rless_engine,containers_image_openpgp ./cmd/rless`)")
	}
	if err != nil {
		return fmt.Errorf("load the image engine: %w", err)
	}
	// Executed by number: f stays open until the program is replaced.
	err = syscall.Exec(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), append([]string{"rless"}, os.Args[1:]...), os.Environ())
	f.Close()
	return fmt.Errorf("execute the image engine: %w", err)
}
