package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/rless/rless/pkg/logfile"
)

// LogOptions say which of a container's log Logs reads.
type LogOptions struct {
	// Follow goes on reading what the container writes until its monitor
	// ends (or ctx does).
	Follow bool
	// Tail is how many of the last lines to read; negative: all.
	Tail int
	// Since and Until bound the lines' times (zero: no bound).
	Since, Until time.Time
	// Timestamps prefixes each line with its time (RFC 3339).
	Timestamps bool
}

// ErrNoLog is returned (wrapped) by Logs for a container that keeps no
// log: a foreground one, or one with the none log driver.
var ErrNoLog = errors.New("container has no log")

// Logs copies the log of a detached container (its output since it was
// first started, podman's k8s-file format) to stdout and stderr, each line
// to the stream it was written to.
func (c *Container) Logs(ctx context.Context, o LogOptions, stdout, stderr io.Writer) error {
	d, err := c.e.readDef(c.id)
	if err != nil || d.Config.Log.Driver == "none" {
		return fmt.Errorf("container %s: %w", c.shortName(), ErrNoLog)
	}
	path := filepath.Join(c.e.defDir(c.id), logFile)
	ro := logfile.ReadOptions{
		Follow: o.Follow, Tail: o.Tail, Since: o.Since, Until: o.Until, Timestamps: o.Timestamps,
		Done: func() bool { return c.e.monitorPid(c.id) == 0 },
	}
	err = logfile.Read(ctx, path, ro, stdout, stderr)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never started
	}
	return err
}
