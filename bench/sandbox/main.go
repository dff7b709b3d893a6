// Command bench-sandbox measures `rless sandbox -- true` against the
// bubblewrap command that gives the same file view: the host's root
// read-only, the project read-write at its own path, an empty private
// home, private /tmp, /var/tmp, /run, /home, /mnt and /media, a new /dev
// and /proc, and new PID, IPC, UTS, mount, user and network namespaces.
// rless is measured with --network none (the view bwrap gives: no network)
// and with its default allowlist network (bwrap has no equivalent: the
// price of the userspace stack).
//
// Runs alternate between the commands, the first alternating by round.
// It must run as an unprivileged user; as root use bench/sandbox/run.sh.
// It is a measurement, not a test: a missed target is reported, never an
// error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/rless/rless/internal/benchio"
)

// variant is one command under test.
type variant struct {
	name  string
	args  []string
	times []float64 // ms per round
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-sandbox:", err)
		os.Exit(1)
	}
}

func run() error {
	rless := flag.String("rless", "", "path of the rless `binary` (required)")
	bwrap := flag.String("bwrap", "bwrap", "path of bubblewrap")
	n := flag.Int("n", 30, "timed rounds")
	warmup := flag.Int("warmup", 3, "untimed rounds first")
	jsonOut := flag.String("json", "", "also write the results as JSON to `FILE`")
	flag.Parse()
	if *rless == "" {
		return errors.New("-rless is required")
	}
	if os.Getuid() == 0 {
		return errors.New("run it as an unprivileged user (bench/sandbox/run.sh does, as root)")
	}
	work, err := os.MkdirTemp("", "bench-sandbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	project := filepath.Join(work, "project")
	home := filepath.Join(work, "home")
	for _, d := range []string{project, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if *rless, err = filepath.Abs(*rless); err != nil {
		return err
	}
	root := []string{*rless, "--root", filepath.Join(work, "store"), "--runroot", filepath.Join(work, "run")}
	bw := []string{*bwrap, "--unshare-all", "--die-with-parent", "--new-session",
		"--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"}
	for _, d := range []string{"/tmp", "/var/tmp", "/run", "/home", "/mnt", "/media"} {
		if _, err := os.Stat(d); err == nil {
			bw = append(bw, "--tmpfs", d)
		}
	}
	bw = append(bw, "--dir", home, "--bind", project, project, "--chdir", project, "--setenv", "HOME", home, "true")
	variants := []*variant{
		{name: "rless sandbox --network none", args: append(append([]string{}, root...), "sandbox", "--project", project, "--network", "none", "--ephemeral", "--", "true")},
		{name: "bwrap", args: bw},
		{name: "rless sandbox (allowlist)", args: append(append([]string{}, root...), "sandbox", "--project", project, "--ephemeral", "--", "true")},
		// The command in the project's kept sandbox, which the first
		// (warm-up) round starts: an exec into a running sandbox.
		{name: "rless sandbox --keep-running", args: append(append([]string{}, root...), "sandbox", "--project", project, "--network", "none", "--keep-running", "--", "true")},
	}
	defer func() {
		stop := exec.Command(root[0], append(root[1:], "sandbox", "--project", project, "--stop")...)
		if out, err := stop.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox --stop: %v: %s", err, out)
		}
	}()
	fmt.Printf("bench-sandbox %s\n", time.Now().UTC().Format(time.RFC3339))
	out, _ := exec.Command(*bwrap, "--version").Output()
	fmt.Printf("  bwrap: %s (%s)\n", *bwrap, benchio.FirstLine(string(out)))
	out, _ = exec.Command(*rless, "--version").Output()
	fmt.Printf("  rless: %s (%s)\n", *rless, benchio.FirstLine(string(out)))
	fmt.Printf("`true` in a sandbox of %s; %d rounds (+%d warm-up), alternating\n", project, *n, *warmup)
	env := append(os.Environ(), "HOME="+home)
	for round := 0; round < *warmup+*n; round++ {
		for i := range variants {
			v := variants[(i+round)%len(variants)]
			cmd := exec.Command(v.args[0], v.args[1:]...)
			cmd.Env, cmd.Dir = env, project
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", v.name, err, out)
			}
			if round >= *warmup {
				v.times = append(v.times, float64(time.Since(start).Microseconds())/1000)
			}
		}
	}
	fmt.Printf("\n%-30s %12s %12s\n", "command", "median", "p90")
	for _, v := range variants {
		fmt.Printf("%-30s %9.1f ms %9.1f ms\n", v.name, benchio.Median(v.times), benchio.Percentile(v.times, 90))
	}
	base := benchio.Median(variants[1].times)
	results := map[string]any{}
	for _, v := range []*variant{variants[0], variants[2], variants[3]} {
		ratio := benchio.Median(v.times) / base
		verdict := "met"
		if ratio > 1.5 {
			verdict = "NOT met"
		}
		fmt.Printf("%s / bwrap = %.2fx (target <= 1.5x: %s)\n", v.name, ratio, verdict)
		results[v.name+" ms"] = v.times
		results[v.name+" ratio"] = ratio
	}
	results["bwrap ms"] = variants[1].times
	return benchio.WriteJSON(*jsonOut, results)
}
