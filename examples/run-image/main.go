// Command run-image shows rless used as a library: it runs a command in a
// container made from an image, pulling the image first when the store
// lacks it, with this program's standard streams.
//
//	run-image alpine cat /etc/alpine-release
//
// It is what `rless run --rm IMAGE CMD...` does, without the flags. The
// store and the run root are rless's defaults ($XDG_DATA_HOME/rless and
// $XDG_RUNTIME_DIR/rless), so the images rless pulled are there. A SIGINT
// or SIGTERM stops the container gracefully (its stop signal, then
// SIGKILL 10 seconds later). The exit status is the command's.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rless/rless/pkg/engine"
)

func main() {
	// First thing in main: the container's first process, and the pull
	// (which runs in the user's namespace), are this program re-executed.
	engine.Init()

	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: run-image IMAGE [COMMAND [ARG...]]")
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()

	e, err := engine.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(125)
	}
	code, err := e.Run(ctx, engine.Config{
		Image:   os.Args[1],
		Command: os.Args[2:],
		// Pull when missing, showing podman's progress lines on stderr.
		Pulling: engine.PullOptions{Display: true},
		Stdin:   os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Network: "none",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(engine.ExitCode(err))
	}
	os.Exit(code)
}
