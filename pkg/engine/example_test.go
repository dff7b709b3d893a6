package engine_test

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/rless/rless/pkg/engine"
)

// A container runs a command to its end, from a root directory (or, with
// Config.Image, an image), with this program's output.
func Example() {
	// engine.Init() comes first in main (here, in TestMain).
	e, err := engine.Open(engine.WithRunRoot(exampleRunRoot))
	if err != nil {
		panic(err)
	}
	code, err := e.Run(context.Background(), engine.Config{
		Rootfs:  exampleRootfs, // a busybox root filesystem
		Command: []string{"echo", "hello from a container"},
		Network: "none",
		Stdout:  os.Stdout,
	})
	fmt.Println(code, err)
	// Output:
	// hello from a container
	// 0 <nil>
}

// A container's lifecycle: created, started, a process executed in it,
// stopped, deleted.
func ExampleEngine_Create() {
	ctx := context.Background()
	e, err := engine.Open(engine.WithRunRoot(exampleRunRoot))
	if err != nil {
		panic(err)
	}
	c, err := e.Create(ctx, engine.Config{
		Rootfs:   exampleRootfs,
		Command:  []string{"sleep", "300"},
		Hostname: "box",
		Network:  "none",
	})
	if err != nil {
		panic(err)
	}
	st, _ := c.State()
	fmt.Println(st.Status)
	if err := c.Start(ctx); err != nil {
		panic(err)
	}
	p, err := c.Exec(ctx, engine.Process{Args: []string{"sh", "-c", "echo exec in $(hostname)"}, Stdout: os.Stdout})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Wait())
	if err := c.Signal(syscall.SIGTERM); err != nil {
		panic(err)
	}
	fmt.Println(c.Wait(ctx))
	fmt.Println(c.Delete(ctx, false))
	// Output:
	// created
	// exec in box
	// 0 <nil>
	// 143 <nil>
	// <nil>
}

// Another process finds a container by its name or id.
func ExampleEngine_Load() {
	ctx := context.Background()
	e, err := engine.Open(engine.WithRunRoot(exampleRunRoot))
	if err != nil {
		panic(err)
	}
	c, err := e.Create(ctx, engine.Config{
		Name:    "example",
		Rootfs:  exampleRootfs,
		Command: []string{"sleep", "300"},
		Network: "none",
		Detach:  true, // it outlives the process that creates it
	})
	if err != nil {
		panic(err)
	}
	if err := c.Start(ctx); err != nil {
		panic(err)
	}

	// In another process (or here): a handle of the same container.
	other, err := e.Load("example")
	if err != nil {
		panic(err)
	}
	st, _ := other.State()
	fmt.Println(other.ID() == c.ID(), st.Status, st.Record.Name)
	fmt.Println(other.Stop(ctx, 0))
	fmt.Println(other.Wait(ctx))
	fmt.Println(other.Delete(ctx, false))
	// Output:
	// true running example
	// <nil>
	// 143 <nil>
	// <nil>
}
