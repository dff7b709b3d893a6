// Command rless runs containers rootless: no daemon, no root.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/rless/rless/internal/logging"
	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// globals are the flags every command shares.
type globals struct {
	logLevel      string
	root          string
	runRoot       string
	storageDriver string
	storageOpts   []string
}

// exitError carries a command's exit status out of cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// codeError is an error to report with an exit status of its own (podman's
// rmi exits 1 for an unknown image and 2 for one in use).
type codeError struct {
	code int
	err  error
}

func (e codeError) Error() string { return e.err.Error() }
func (e codeError) Unwrap() error { return e.err }

func main() {
	engine.Init()
	args := os.Args[1:]
	ociOnly := false
	if a, ok := runtimeArgs(os.Args[0], args); ok {
		// An engine's call: the runtime's commands are all it needs,
		// and each call's start counts.
		args, ociOnly = a, true
	}
	os.Exit(execute(args, ociOnly))
}

// execute runs the command line args and returns the exit status; with
// ociOnly, only the oci command exists.
func execute(args []string, ociOnly bool) int {
	g := &globals{}
	root := &cobra.Command{
		Use:           "rless",
		Short:         "Run containers rootless: no daemon, no root",
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			if lvl != slog.LevelWarn {
				logging.Setup(lvl)
			}
			slog.Debug("rless start", "command", cmd.Name())
			return nil
		},
	}
	// `completion` is newCompletionCmd, which checks its argument.
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", "warn", "log messages at or above this level: debug, info, warn, error")
	pf.StringVar(&g.root, "root", engine.DefaultRoot(), "storage root directory")
	pf.StringVar(&g.runRoot, "runroot", engine.DefaultRunRoot(), "directory for the state of running containers")
	pf.StringVar(&g.storageDriver, "storage-driver", "overlay", "how an image's layers become a container's root: overlay (kernel overlayfs, else fuse-overlayfs, else a copy) or vfs (a copy)")
	stringsVar(pf, &g.storageOpts, "storage-opt", "", "storage option: overlay.mount_program=PATH (a FUSE overlay program such as fuse-overlayfs, instead of the kernel's)", false)
	if ociOnly {
		root.AddCommand(newOCICmd())
		root.SetArgs(args)
		return exitStatus(root.ExecuteContext(context.Background()))
	}
	addTopCommands(root, g, args)
	if len(args) > 0 && strings.HasPrefix(args[0], "__complete") {
		addCompletions(root, g)
	}
	root.SetArgs(args)
	return exitStatus(root.ExecuteContext(context.Background()))
}

// exitStatus reports err, the outcome of a command, and returns the exit
// status it calls for.
func exitStatus(err error) int {
	var ee exitError
	var ce codeError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce):
		fmt.Fprintf(os.Stderr, "Error: %v\n", ce.err)
		return ce.code
	default:
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return engine.ExitCode(err)
	}
}
