// Command lifecycle shows a container's lifecycle through the library,
// across two processes:
//
//	lifecycle IMAGE
//
// creates a container running `sleep 300` from IMAGE, starts it, execs
// `echo exec-ok` in it, then starts a second process of itself,
// `lifecycle --load ID`, which finds the container by its id (Load) and
// sends it SIGTERM. The first process waits for the container, prints
// "exited STATUS", deletes it and prints "deleted".
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

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
	if len(os.Args) == 3 && os.Args[1] == "--load" {
		// The second process: a handle on the container the first made.
		c, err := e.Load(os.Args[2])
		if err != nil {
			return err
		}
		return c.Signal(syscall.SIGTERM)
	}
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: lifecycle IMAGE, or lifecycle --load ID")
	}

	// Created: its root, network and confinement made, its command not
	// started.
	c, err := e.Create(ctx, engine.Config{
		Image:   os.Args[1],
		Command: []string{"sleep", "300"},
		Network: "none",
		Stderr:  os.Stderr,
	})
	if err != nil {
		return err
	}
	defer c.Delete(ctx, true) // on failure: nothing is left
	if err := c.Start(ctx); err != nil {
		return err
	}

	// A second process in the running container, with its own stdio.
	p, err := c.Exec(ctx, engine.Process{Args: []string{"echo", "exec-ok"}, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		return fmt.Errorf("exec: status %d, %v", code, err)
	}

	// Another program stops it.
	other := exec.Command("/proc/self/exe", "--load", c.ID())
	other.Stdout, other.Stderr = os.Stdout, os.Stderr
	if err := other.Run(); err != nil {
		return fmt.Errorf("lifecycle --load: %w", err)
	}

	code, err := c.Wait(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("exited %d\n", code)
	if err := c.Delete(ctx, false); err != nil {
		return err
	}
	fmt.Println("deleted")
	return nil
}
