// Command sandbox shows rless's sandbox embedded in another program: it
// runs a command in a sandbox of a project directory, as `rless sandbox
// --project DIR --network none -- CMD...` does. The command can change the
// project and nothing else: the host's root is read-only, the home empty
// and private, the environment reduced to an allow-list, and there is no
// network.
//
//	sandbox DIR COMMAND [ARG...]
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rless/rless/pkg/engine"
	"github.com/rless/rless/pkg/sandbox"
)

func main() {
	// First thing in main: the sandbox's first process is this program,
	// re-executed, and Init runs it.
	engine.Init()
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: sandbox DIR COMMAND [ARG...]")
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	code, err := run(ctx, os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(engine.ExitCode(err))
	}
	os.Exit(code)
}

func run(ctx context.Context, project string, command []string) (int, error) {
	e, err := engine.Open() // rless's store and run root
	if err != nil {
		return 0, err
	}
	// A profile is what `rless sandbox` flags and .rless/sandbox.toml say.
	s, err := sandbox.New(e, sandbox.Profile{
		Project: project, Command: command, Network: sandbox.NetworkNone, Ephemeral: true,
	})
	if err != nil {
		return 0, err
	}
	for _, n := range s.Notes {
		fmt.Fprintln(os.Stderr, "note:", n)
	}
	s.Config.Stdout, s.Config.Stderr = os.Stdout, os.Stderr
	return s.Run(ctx)
}
