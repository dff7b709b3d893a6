package container

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/rless/rless/internal/stage"
	"github.com/rless/rless/pkg/userns"
)

// A spare init: with Config.Spare, once a container runs, the process
// starts the init of the next container ahead, with the same options, in
// namespaces of its own, and has its ids mapped (newuidmap and newgidmap).
// It then waits, idle, for the next Create with those options, which
// claims it (stage.Child.Claim: its state directory and standard
// descriptors) instead of starting one: the init's start and the id
// mapping, a third of a detached container's start, are then done (see
// BENCHMARKS.md, "A spare init"). One spare at a time, for the options of
// the last container; it dies with the process (its parent-death signal,
// as any init of a container that is not detached). Its command line
// stays "rless-init spare" once claimed.

// spareAfter is how long after the last Create the spare is started: not
// during a burst of starts, whose CPU time it would take.
const spareAfter = 30 * time.Millisecond

var spare struct {
	mu     sync.Mutex
	key    string       // the options it was started with (spareKey)
	child  *stage.Child // the spare, mapped; nil if none
	timer  *time.Timer
	next   string // the key and options of the one the timer starts
	opts   stage.SpawnOptions
	making bool
}

// spareKey returns what identifies the options of an init that a spare
// can stand in for, and false for options no spare serves: those that
// name the container (a cgroup, files of its own), join namespaces, keep
// it beyond its creator, make its namespaces inside another (a nested
// layout), or hand it standard streams that are not files.
func spareKey(opts stage.SpawnOptions) (string, bool) {
	if opts.Cgroup != "" || len(opts.ExtraFiles) > 0 || len(opts.Join) > 0 || opts.NoUserns || opts.Detach || opts.Host == nil {
		return "", false
	}
	if root, ok := userns.HostID(opts.Mapping.UIDs, 0); !ok || root != uint32(os.Getuid()) {
		return "", false
	}
	if _, ok := stdioFiles(opts); !ok {
		return "", false
	}
	h := opts.Host
	return fmt.Sprintf("%s\x00%s\x00%x\x00%t\x00%q\x00%v\x00%s\x00%s",
		opts.Stage, opts.Path, opts.Cloneflags, opts.Setsid, opts.Env, opts.Mapping, h.NewUIDMap, h.NewGIDMap), true
}

// stdioFiles returns the standard streams of opts as files (nil where
// none is given), and false when one is given that is not a file.
func stdioFiles(opts stage.SpawnOptions) ([3]*os.File, bool) {
	var out [3]*os.File
	for i, s := range []any{opts.Stdin, opts.Stdout, opts.Stderr} {
		f, ok := s.(*os.File)
		if s != nil && !ok {
			return out, false
		}
		out[i] = f
	}
	return out, true
}

// takeSpare returns the spare if it was started with options key (and ok),
// else nil.
func takeSpare(key string, ok bool) *stage.Child {
	if !ok {
		return nil
	}
	spare.mu.Lock()
	defer spare.mu.Unlock()
	if spare.child == nil || spare.key != key {
		return nil
	}
	c := spare.child
	spare.child = nil
	return c
}

// spareLater has a spare started with opts spareAfter after the last call,
// unless one with those options is there.
func spareLater(key string, opts stage.SpawnOptions) {
	// Not the last container's streams: the spare is given its own.
	opts.Stdin, opts.Stdout, opts.Stderr = nil, nil, nil
	spare.mu.Lock()
	defer spare.mu.Unlock()
	spare.next, spare.opts = key, opts
	if spare.timer == nil {
		spare.timer = time.AfterFunc(spareAfter, makeSpare)
		return
	}
	spare.timer.Reset(spareAfter)
}

// makeSpare starts the spare spareLater asked for.
func makeSpare() {
	spare.mu.Lock()
	key, opts := spare.next, spare.opts
	if spare.making || spare.child != nil && spare.key == key {
		spare.mu.Unlock()
		return
	}
	old := spare.child
	spare.child, spare.making = nil, true
	spare.mu.Unlock()
	if old != nil {
		old.Kill()
	}
	c, err := newSpare(opts)
	spare.mu.Lock()
	defer spare.mu.Unlock()
	spare.making = false
	if err != nil {
		slog.Debug("start a spare init", "err", err)
		return
	}
	spare.key, spare.child = key, c
}

// newSpare starts an init with opts that waits to be claimed, and maps
// its ids.
func newSpare(opts stage.SpawnOptions) (*stage.Child, error) {
	opts.Args = []string{stage.SpareArg}
	c, err := startLocked(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.MapAhead(ctx); err != nil {
		c.Kill()
		return nil, err
	}
	return c, nil
}
