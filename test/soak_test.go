package test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashSoak kills pull, run --rm, rmi and load with SIGKILL at random
// points, 20 times each. No kill may damage the store (system check finds
// at most what killed commands leave over, never a damaged image or
// layer) or leave a process behind; at the end --repair makes the store
// whole and everything works in it. The seed is logged: RLESS_SOAK_SEED
// replays a run.
func TestCrashSoak(t *testing.T) {
	p := newFaultProxy(t, "slow")
	root := imageStore(t)
	// A run root of its own: a killed run --rm leaves its state there, as
	// a killed rless does (ps -a shows it ended, rm removes it), which the
	// other tests' shared run root must not see.
	rr, err := os.MkdirTemp("", "rless-soak")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rr) })
	withRunRoot := func(args ...string) []string { return append([]string{"--runroot", rr}, args...) }
	ref := p.addr() + "/" + multiRef
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("RLESS_SOAK_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	pull := []string{"pull", "-q", "--tls-verify=false", ref}
	archive := filepath.Join(t.TempDir(), "image.tar")
	mustImg(t, root, withRunRoot(pull...)...)
	mustImg(t, root, withRunRoot("save", "-o", archive, ref)...)
	has := func() bool { return strings.TrimSpace(mustImg(t, root, withRunRoot("images", "-q")...).stdout) != "" }
	ops := []struct {
		name string
		args []string
		// ready prepares the store for the command (with or without the
		// image).
		ready func()
	}{
		{"pull", pull, func() {
			if has() {
				mustImg(t, root, withRunRoot("rmi", "-f", ref)...)
			}
		}},
		// As root: the image's user (1234) needs a subordinate range.
		{"run --rm", []string{"run", "--rm", "--pull=never", "-u", "0", ref, "sh", "-c", "echo data > /data/x; cat /data/keep"}, func() {
			if !has() {
				mustImg(t, root, withRunRoot(pull...)...)
			}
		}},
		{"rmi", []string{"rmi", "-f", ref}, func() {
			if !has() {
				mustImg(t, root, withRunRoot(pull...)...)
			}
		}},
		{"load", []string{"load", "-q", "-i", archive}, func() {
			if has() {
				mustImg(t, root, withRunRoot("rmi", "-f", ref)...)
			}
		}},
	}
	for _, op := range ops {
		// How long the command takes when it is not killed: the kills
		// fall anywhere in it, and a little after.
		op.ready()
		start := time.Now()
		mustImg(t, root, withRunRoot(op.args...)...)
		took := time.Since(start)
		t.Logf("%s takes %v", op.name, took.Round(time.Millisecond))
		for i := range 20 {
			op.ready()
			snap := takeSnapshot(t)
			cmd := imgCmd(root, withRunRoot(op.args...)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			delay := time.Duration(rng.Int64N(int64(took) * 6 / 5))
			time.Sleep(delay)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if left := newPids(snap, waitProcessesGone(t, snap)); len(left) > 0 {
				t.Errorf("%s killed after %v (kill %d): processes left: %v", op.name, delay, i, left)
			}
			if r := rlessImg(t, root, withRunRoot("system", "check")...); strings.Contains(r.stdout, "Damaged") || r.code > 1 {
				t.Fatalf("%s killed after %v (kill %d) damaged the store: exit %d\n%s%s", op.name, delay, i, r.code, r.stdout, r.stderr)
			}
		}
	}
	r := rlessImg(t, root, withRunRoot("system", "check", "--max", "0s", "--repair")...)
	t.Logf("after the kills, system check --repair says:\n%s", r.stdout)
	if r.code != 0 {
		t.Fatalf("system check --repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := rlessImg(t, root, withRunRoot("system", "check", "--max", "0s")...); r.code != 0 || r.stdout != "" {
		t.Fatalf("system check after the repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Everything works.
	if has() {
		mustImg(t, root, withRunRoot("rmi", "-f", ref)...)
	}
	mustImg(t, root, withRunRoot(pull...)...)
	checkStoreWhole(t, root)
	mustImg(t, root, withRunRoot("rmi", ref)...)
	mustImg(t, root, withRunRoot("load", "-q", "-i", archive)...)
	checkStoreWhole(t, root)
	if out := mustImg(t, root, withRunRoot("system", "check")...).stdout; out != "" {
		t.Errorf("system check at the end:\n%s", out)
	}
}
