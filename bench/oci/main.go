// Command bench-oci measures rless as an OCI runtime against runc, the
// way youki's published comparison does: on one bundle (a busybox root,
// the spec `rless oci spec --rootless` writes, running `true`), the wall
// time of `create`, `start`, waiting for the container's process to end,
// and `delete`, by the same unprivileged user, each tool with a state root
// of its own. The benchmark is the child subreaper of the containers it
// creates (as engines' monitors are), so it waits for a container's
// process itself (wait4 on the pid of --pid-file).
//
// Runs alternate between the tools, the first alternating by round. It
// must run as an unprivileged user; as root use bench/oci/run.sh. It is a
// measurement, not a test: a missed target is reported, never an error.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rless/rless/internal/benchio"
	"github.com/rless/rless/internal/busybox"
	"golang.org/x/sys/unix"
)

// tool is one runtime under test.
type tool struct {
	name, path, root string
	times            []float64    // ms per round
	phases           [4][]float64 // ms per round of each of phaseNames
}

// phaseNames names the parts of a round, timed separately.
var phaseNames = [4]string{"create", "start", "wait", "delete"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-oci:", err)
		os.Exit(1)
	}
}

func run() error {
	rless := flag.String("rless", "", "path of the rless `binary` (required)")
	runc := flag.String("runc", "runc", "path of runc")
	n := flag.Int("n", 30, "timed rounds")
	warmup := flag.Int("warmup", 3, "untimed rounds first")
	jsonOut := flag.String("json", "", "also write the results as JSON to `FILE`")
	flag.Parse()
	if *rless == "" {
		return errors.New("-rless is required")
	}
	if os.Getuid() == 0 {
		return errors.New("run it as an unprivileged user (bench/oci/run.sh does, as root)")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a subreaper: %w", err)
	}
	work, err := os.MkdirTemp("", "bench-oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bundle := filepath.Join(work, "bundle")
	if err := makeBundle(*rless, bundle); err != nil {
		return err
	}
	tools := []*tool{
		{name: "rless", path: *rless, root: filepath.Join(work, "rless-state")},
		{name: "runc", path: *runc, root: filepath.Join(work, "runc-state")},
	}
	fmt.Printf("bench-oci %s\n", time.Now().UTC().Format(time.RFC3339))
	for _, t := range tools {
		out, _ := exec.Command(t.path, "--version").Output()
		fmt.Printf("  %s: %s (%s)\n", t.name, t.path, benchio.FirstLine(string(out)))
	}
	fmt.Printf("bundle %s: `true` in a rootless busybox container; %d rounds (+%d warm-up), alternating\n", bundle, *n, *warmup)
	for round := 0; round < *warmup+*n; round++ {
		order := tools
		if round%2 == 1 {
			order = []*tool{tools[1], tools[0]}
		}
		for _, t := range order {
			d, ph, err := cycle(t, bundle, fmt.Sprintf("b%d", round), filepath.Join(work, "pid"))
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if round >= *warmup {
				t.times = append(t.times, ms(d))
				for i, p := range ph {
					t.phases[i] = append(t.phases[i], ms(p))
				}
			}
		}
	}
	fmt.Printf("\n%-6s %12s %12s", "tool", "median", "p90")
	for _, p := range phaseNames {
		fmt.Printf(" %9s", p)
	}
	fmt.Println(" (medians)")
	for _, t := range tools {
		fmt.Printf("%-6s %9.1f ms %9.1f ms", t.name, benchio.Median(t.times), benchio.Percentile(t.times, 90))
		for _, p := range t.phases {
			fmt.Printf(" %6.1f ms", benchio.Median(p))
		}
		fmt.Println()
	}
	ratio := benchio.Median(tools[0].times) / benchio.Median(tools[1].times)
	verdict := "met"
	if ratio > 0.5 {
		verdict = "NOT met"
	}
	fmt.Printf("create+start+wait+delete: rless / runc = %.2fx (target <= 0.5x: %s)\n", ratio, verdict)
	return benchio.WriteJSON(*jsonOut, map[string]any{
		"rless_ms": tools[0].times, "runc_ms": tools[1].times, "ratio": ratio,
	})
}

// makeBundle writes a bundle: a busybox root and rless's rootless spec
// with `true` as its process, without a terminal.
func makeBundle(rless, dir string) error {
	if err := busybox.Rootfs(filepath.Join(dir, "rootfs"), nil); err != nil {
		return err
	}
	if out, err := exec.Command(rless, "oci", "spec", "--rootless", "--bundle", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("oci spec: %v: %s", err, out)
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p := s["process"].(map[string]any)
	p["terminal"] = false
	p["args"] = []string{"true"}
	if b, err = json.MarshalIndent(s, "", "\t"); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cycle creates, starts, waits for and deletes container id with t. It
// returns the whole round's time and each phase's (phaseNames).
func cycle(t *tool, bundle, id, pidFile string) (time.Duration, [4]time.Duration, error) {
	var ph [4]time.Duration
	os.Remove(pidFile)
	start := time.Now()
	if err := runtime(t, "create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
		return 0, ph, err
	}
	ph[0] = time.Since(start)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, ph, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, ph, fmt.Errorf("pid file: %q", b)
	}
	t1 := time.Now()
	if err := runtime(t, "start", id); err != nil {
		return 0, ph, err
	}
	t2 := time.Now()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return 0, ph, fmt.Errorf("wait for %d: %w", pid, err)
	}
	t3 := time.Now()
	if err := runtime(t, "delete", id); err != nil {
		return 0, ph, err
	}
	d := time.Since(start)
	ph[1], ph[2], ph[3] = t2.Sub(t1), t3.Sub(t2), time.Since(t3)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return 0, ph, fmt.Errorf("the container's `true` ended with %v", ws)
	}
	return d, ph, nil
}

// runtime runs t with args. Its output goes to a file, not a pipe: the
// container of a create keeps the streams it is given, and a pipe would
// not end before the container does.
func runtime(t *tool, args ...string) error {
	out, err := os.CreateTemp("", "bench-oci-out-")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(t.path, append([]string{"--root", t.root}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		return fmt.Errorf("%s %s: %v: %s", t.name, strings.Join(args, " "), err, b)
	}
	return nil
}
