package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rless/rless/pkg/engine"
	"github.com/rless/rless/pkg/spec"
	"github.com/spf13/cobra"
)

// signalByName parses a signal's name or number.
var signalByName = spec.ParseSignal

// prefixWriter returns a writer that puts prefix before each line written
// to w.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	var mu sync.Mutex
	atStart := true
	return writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		var b bytes.Buffer
		for _, c := range p {
			if atStart {
				b.WriteString(prefix)
				atStart = false
			}
			b.WriteByte(c)
			if c == '\n' {
				atStart = true
			}
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// printTop prints a container's processes as podman top does by default.
func printTop(procs []engine.TopProcess) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "USER\tPID\tPPID\t%CPU\tELAPSED\tTTY\tTIME\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%s\t%s\t%s\t%s\n", p.User, p.Pid, p.PPid, p.CPU,
			p.Elapsed.Round(time.Microsecond), p.TTY, p.Time.Round(time.Second), p.Args)
	}
	return tw.Flush()
}

// runCp copies between a container and the host: one of src and dst is
// CONTAINER:PATH.
func runCp(ctx context.Context, g *globals, src, dst string) error {
	sc, sp, sok := splitContainerPath(src)
	dc, dp, dok := splitContainerPath(dst)
	if sok == dok {
		return errors.New("copying needs one container path (CONTAINER:PATH) and one host path")
	}
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	ref := sc
	if dok {
		ref = dc
	}
	c, err := e.Load(ref)
	if err != nil {
		return err
	}
	if c.Pid() == 0 {
		return fmt.Errorf("container %s is not running: rless cp needs a running container", ref)
	}
	if sok {
		return c.CopyFrom(ctx, sp, dst)
	}
	return c.CopyTo(ctx, src, dp)
}

// splitContainerPath splits CONTAINER:PATH; a path that starts with / or
// . is a host path.
func splitContainerPath(s string) (string, string, bool) {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") {
		return "", s, false
	}
	c, p, ok := strings.Cut(s, ":")
	if !ok || c == "" {
		return "", s, false
	}
	return c, p, true
}

func newHealthcheckCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "healthcheck", Short: "Run container healthchecks"}
	cmd.AddCommand(&cobra.Command{
		Use:   "run CONTAINER",
		Short: "Run a container's healthcheck now: exit 0 healthy, 1 unhealthy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(g, args[0])
			if err != nil {
				return err
			}
			healthy, err := c.Healthcheck(cmd.Context())
			if err != nil {
				return err
			}
			if !healthy {
				fmt.Println("unhealthy")
				return exitError{1}
			}
			return nil
		},
	})
	return cmd
}

func newContainerPruneCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove all stopped containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			ids, err := e.Prune(cmd.Context())
			for _, id := range ids {
				fmt.Println(id)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not ask (rless never asks)")
	return cmd
}
