// Command detached runs a background container through the library, as
// `rless run -d` does, and manages it from this and a second process:
//
//	detached IMAGE
//
// creates a detached container (its monitor, in the supervisor process of
// the user's detached containers, runs it) whose command prints a line and
// sleeps, starts it, reads the line from its log, execs `echo exec-ok` in
// it, then runs `detached --stop ID`, a second process that finds the
// container by id and stops it. The first process prints how it ended ("exited STATUS"),
// removes it and prints "deleted".
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rless/rless/pkg/engine"
)

func main() {
	engine.Init()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(engine.ExitCode(err))
	}
}

func run() error {
	ctx := context.Background()
	e, err := engine.Open()
	if err != nil {
		return err
	}
	if len(os.Args) == 3 && os.Args[1] == "--stop" {
		c, err := e.Load(os.Args[2])
		if err != nil {
			return err
		}
		return c.Stop(ctx, 10*time.Second)
	}
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: detached IMAGE, or detached --stop ID")
	}

	c, err := e.Create(ctx, engine.Config{
		Image:   os.Args[1],
		Command: []string{"sh", "-c", "echo hello from the log; exec sleep 300"},
		Network: "none",
		Detach:  true, // run by its monitor: it outlives this process
	})
	if err != nil {
		return err
	}
	defer c.Delete(ctx, true) // on failure: nothing is left
	if err := c.Start(ctx); err != nil {
		return err
	}

	// Its output is in its log, read as `rless logs` does.
	var log strings.Builder
	for i := 0; i < 100 && log.Len() == 0; i++ {
		if err := c.Logs(ctx, engine.LogOptions{Tail: -1}, &log, os.Stderr); err != nil {
			return err
		}
		if log.Len() == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	fmt.Print("log: ", log.String())

	p, err := c.Exec(ctx, engine.Process{Args: []string{"echo", "exec-ok"}, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		return fmt.Errorf("exec: status %d, %v", code, err)
	}

	// Another program stops it; its monitor records how it ended.
	other := exec.Command("/proc/self/exe", "--stop", c.ID())
	other.Stdout, other.Stderr = os.Stdout, os.Stderr
	if err := other.Run(); err != nil {
		return fmt.Errorf("detached --stop: %w", err)
	}
	code, err := c.Wait(ctx)
	if err != nil {
		return err
	}
	fmt.Println("exited", code)
	if err := c.Delete(ctx, false); err != nil {
		return err
	}
	fmt.Println("deleted")
	return nil
}
