// Command bench-lifecycle measures detached containers with rless and
// with podman, side by side in the same run, rootless, from the same
// busybox image loaded into both stores:
//
//  1. `run -d IMAGE sleep 1000`: the wall time of the command, which
//     returns once the container's command runs (podman's once the
//     container has started), with the default network (rless's built-in
//     userspace network, podman's slirp4netns) and with --network none;
//     each container is removed (rm -f, untimed) before the next run;
//  2. `exec CTR true` into a running detached container;
//  3. `ps` and `ps -a` with 100 running detached containers of each tool
//     (started with --network none: the network does not change what ps
//     does; podman's without a session keyring each, see
//     writePodmanConf);
//  4. the memory (PSS) that a running detached container costs beyond its
//     own command, over 10 containers of each tool (see measureMemory).
//
// podman runs as
//
//	podman --root R --runroot RR --runtime runc --cgroup-manager cgroupfs ...
//
// with CONTAINERS_CONF and CONTAINERS_STORAGE_CONF naming the benchmark's
// own containers.conf and storage.conf (overlay driver) and an
// XDG_RUNTIME_DIR of its own, so that podman's pause process, which holds
// its user namespace, is the benchmark's and not that of anyone else
// running podman as the same user. The pause process starts with the
// first podman command and is kept (podman's usual state while it has
// containers running); it is stopped at the end with `podman system
// migrate`. rless runs as `rless --root S --runroot SR ...`.
//
// Timed runs are interleaved: in each round every measurement runs once
// with each tool, the tool that goes first alternating between rounds, so
// that machine noise affects both alike. It must run as an unprivileged
// user with a subordinate id range; as root, use bench/lifecycle/run.sh,
// which runs it as the test user. It is a measurement, not a test: a
// missed target is reported, never an error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rless/rless/internal/benchio"
	"github.com/rless/rless/internal/busybox"
)

// containerCmd is the command every container runs.
var containerCmd = []string{"sleep", "1000"}

// tool is one of the two launchers.
type tool struct {
	name string
	env  []string // nil: the benchmark's
	base []string // argv prefix: the program and its global flags
	// rmForce are the arguments of a forced removal, before the ids: podman
	// stops a container with SIGTERM and waits 10 s before SIGKILL unless
	// told -t 0, and sleep as PID 1 ignores SIGTERM.
	rmForce []string
}

func (t *tool) argv(args ...string) []string {
	return append(slices.Clone(t.base), args...)
}

// config is what the measurements are run with.
type config struct {
	rless  string // absolute path of rless
	idle   string // absolute path of bench/lifecycle/idle's program ("": none)
	rootfs string // the image's root filesystem
	work   string // the benchmark's directory in /var/tmp
	short  string // its directory in /tmp, for run roots (podman wants short paths)
	// rless's store and run state
	store, runRoot string
	// podman's
	podmanRoot, podmanRunRoot, xdg string
	podmanEnv                      []string
	podmanEnvNoKeyring             []string // see writePodmanConf
	rl, pm                         *tool
	tools                          []*tool
}

// timing is one timed measurement: the arguments each tool runs.
type timing struct {
	name   string
	args   map[string][]string // by tool name
	target float64             // rless/podman median ratio to stay within (0: none)
}

// stats summarizes the samples of one tool in one measurement.
type stats struct {
	Tool     string    `json:"tool"`
	Argv     []string  `json:"argv"`
	Runs     int       `json:"runs"`
	MinMS    float64   `json:"min_ms"`
	MedianMS float64   `json:"median_ms"`
	P90MS    float64   `json:"p90_ms"`
	MeanMS   float64   `json:"mean_ms"`
	Samples  []float64 `json:"samples_ms"`
}

type timingResult struct {
	Name      string  `json:"name"`
	Rless     stats   `json:"rless"`
	Podman    stats   `json:"podman"`
	Ratio     float64 `json:"median_ratio"`
	MaxRatio  float64 `json:"max_ratio,omitempty"`
	TargetMet *bool   `json:"target_met,omitempty"`
}

type report struct {
	Time       time.Time      `json:"time"`
	Commit     string         `json:"commit,omitempty"`
	Runs       int            `json:"runs"`
	Warmup     int            `json:"warmup"`
	PsCount    int            `json:"ps_containers"`
	MemCount   int            `json:"mem_containers"`
	Versions   []string       `json:"versions"`
	Timings    []timingResult `json:"timings"`
	Memory     []memResult    `json:"memory"`
	MemTarget  float64        `json:"mem_max_ratio"`
	MemRatio   float64        `json:"mem_ratio"`
	MemMet     bool           `json:"mem_target_met"`
	SetupNotes []string       `json:"notes,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-lifecycle: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	rlessPath := flag.String("rless", "", "path of the rless `binary` (required; built with hack/build.sh)")
	idlePath := flag.String("idle", "", "path of bench/lifecycle/idle's `program`, for the idle Go process memory variant (run.sh builds it)")
	n := flag.Int("n", 20, "timed rounds (one run of each measurement with each tool per round)")
	warmup := flag.Int("warmup", 2, "untimed rounds first")
	psCount := flag.Int("ps", 100, "running containers of each tool while ps is timed")
	memCount := flag.Int("mem", 10, "running containers of each tool whose memory is measured")
	readings := flag.String("mem-after", "5s,30s", "comma-separated `durations` after the last container started at which memory is read (the last one is compared)")
	variants := flag.String("mem-variants", "all", "memory `variants` to measure: all, or a comma-separated list of "+strings.Join(memVariantNames(), ","))
	alts := flag.String("mem-alt", "", "other rless builds whose memory to measure as well: comma-separated `NAME=PATH` pairs (the default variant, with that binary)")
	skip := flag.String("skip", "", "comma-separated `parts` to skip: run, exec, ps, mem")
	commit := flag.String("commit", "", "`description` of the rless build (run.sh passes git describe), printed and recorded")
	jsonOut := flag.String("json", "", "also write the results as JSON to `FILE`")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	if os.Getuid() == 0 {
		return errors.New("running as root: the benchmark measures rootless containers and must run as an unprivileged user; use bench/lifecycle/run.sh, which runs it as the test user")
	}
	if *rlessPath == "" {
		return errors.New("-rless is required")
	}
	if *n < 1 || *warmup < 0 || *psCount < 1 || *memCount < 1 {
		return errors.New("-n, -ps and -mem must be at least 1 and -warmup at least 0")
	}
	after, err := parseDurations(*readings)
	if err != nil {
		return fmt.Errorf("-mem-after: %w", err)
	}
	mvs, err := selectMemVariants(*variants)
	if err != nil {
		return err
	}
	for _, a := range splitList(*alts) {
		name, path, ok := strings.Cut(a, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("-mem-alt: %q is not NAME=PATH", a)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		mvs = append(mvs, altVariant(name, abs))
	}
	skips := map[string]bool{}
	for _, s := range splitList(*skip) {
		if !slices.Contains([]string{"run", "exec", "ps", "mem"}, s) {
			return fmt.Errorf("-skip: unknown part %q", s)
		}
		skips[s] = true
	}
	for _, prog := range []string{"podman", "runc", "conmon", "slirp4netns", "/usr/libexec/podman/catatonit"} {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("%s is needed (apt-get install podman runc catatonit): %w", prog, err)
		}
	}

	var c config
	if c.rless, err = filepath.Abs(*rlessPath); err != nil {
		return err
	}
	if *idlePath != "" {
		if c.idle, err = filepath.Abs(*idlePath); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if c.work, err = os.MkdirTemp("/var/tmp", "bench-lifecycle-"); err != nil {
		return err
	}
	defer os.RemoveAll(c.work)
	if c.short, err = os.MkdirTemp("/tmp", "bl-"); err != nil {
		return err
	}
	defer os.RemoveAll(c.short)
	c.rootfs = filepath.Join(c.work, "rootfs")
	if err := busybox.Rootfs(c.rootfs, nil); err != nil {
		return fmt.Errorf("building the busybox root filesystem: %w", err)
	}
	c.store, c.runRoot = filepath.Join(c.work, "rless-store"), filepath.Join(c.short, "rr")
	c.podmanRoot, c.podmanRunRoot = filepath.Join(c.work, "podman-root"), filepath.Join(c.short, "prr")
	if err := writePodmanConf(&c, c.short); err != nil {
		return err
	}
	c.rl = &tool{name: "rless", base: []string{c.rless, "--root", c.store, "--runroot", c.runRoot}, rmForce: []string{"rm", "-f"}}
	c.pm = &tool{name: "podman", env: c.podmanEnv,
		base:    []string{"podman", "--root", c.podmanRoot, "--runroot", c.podmanRunRoot, "--runtime", "runc", "--cgroup-manager", "cgroupfs"},
		rmForce: []string{"rm", "-f", "-t", "0"}}
	c.tools = []*tool{c.rl, c.pm}
	defer cleanup(&c)

	rep := report{Time: time.Now().UTC(), Commit: *commit, Runs: *n, Warmup: *warmup, PsCount: *psCount, MemCount: *memCount, MemTarget: maxMemRatio}
	for _, t := range c.tools {
		out, _, err := runCmd(t.env, t.argv("--version"))
		if err != nil {
			return err
		}
		rep.Versions = append(rep.Versions, strings.TrimSpace(out))
	}
	fmt.Printf("bench-lifecycle %s\n", rep.Time.Format(time.RFC3339))
	if *commit != "" {
		fmt.Printf("rless build: %s\n", *commit)
	}
	fmt.Printf("versions: %s\n", strings.Join(rep.Versions, "; "))
	fmt.Printf("rounds: %d timed (+%d warm-up), interleaved, the first tool alternating\n", *n, *warmup)
	fmt.Printf("  rless:  %s ...\n", strings.Join(c.rl.base, " "))
	fmt.Printf("  podman: CONTAINERS_CONF=... CONTAINERS_STORAGE_CONF=... XDG_RUNTIME_DIR=%s %s ...\n", c.xdg, strings.Join(c.pm.base, " "))

	if err := loadImage(&c); err != nil {
		return fmt.Errorf("loading the image: %w", err)
	}

	img := append([]string{imageName}, containerCmd...)
	runD := func(flags ...string) []string {
		return append(append([]string{"run", "-d", "--pull=never"}, flags...), img...)
	}
	if !skips["run"] {
		ts := []timing{
			{name: "run -d (default network)", args: map[string][]string{"rless": runD(), "podman": runD()}, target: 0.2},
			{name: "run -d --network none", args: map[string][]string{"rless": runD("--network", "none"), "podman": runD("--network", "none")}, target: 0.2},
			// rless runs its init by default, as podman does with --init.
			{name: "run -d, podman --init", args: map[string][]string{"rless": runD(), "podman": runD("--init")}},
		}
		rs, err := timeAll(ctx, &c, ts, *n, *warmup, func(t *tool, out string) error {
			_, _, err := runCmd(t.env, t.argv(append(slices.Clone(t.rmForce), strings.TrimSpace(out))...))
			return err
		})
		rep.Timings = append(rep.Timings, rs...)
		if err != nil {
			return err
		}
	}
	if !skips["exec"] {
		for _, t := range c.tools {
			if _, _, err := runCmd(t.env, t.argv(append([]string{"run", "-d", "--pull=never", "--name", "bl-exec"}, img...)...)); err != nil {
				return err
			}
		}
		ts := []timing{{name: "exec CTR true", args: map[string][]string{"rless": {"exec", "bl-exec", "true"}, "podman": {"exec", "bl-exec", "true"}}, target: 0.3}}
		rs, err := timeAll(ctx, &c, ts, *n, *warmup, nil)
		rep.Timings = append(rep.Timings, rs...)
		if err != nil {
			return err
		}
		if err := removeAll(&c); err != nil {
			return err
		}
	}
	if !skips["ps"] {
		for _, t := range c.tools {
			start := time.Now()
			note := ""
			if t == c.pm {
				// See writePodmanConf.
				pm := *c.pm
				pm.env = c.podmanEnvNoKeyring
				t, note = &pm, ", keyring = false"
			}
			if _, err := startN(ctx, t, *psCount, "--network", "none"); err != nil {
				return err
			}
			fmt.Printf("%s: %d containers started (--network none%s) in %.1f s\n", t.name, *psCount, note, time.Since(start).Seconds())
		}
		for _, t := range c.tools {
			for _, ps := range [][]string{{"ps", "-q"}, {"ps", "-a", "-q"}} {
				out, _, err := runCmd(t.env, t.argv(ps...))
				if err != nil {
					return err
				}
				if k := len(strings.Fields(out)); k != *psCount {
					return fmt.Errorf("%s %s lists %d containers, want %d", t.name, strings.Join(ps, " "), k, *psCount)
				}
			}
		}
		label := fmt.Sprintf(" (%d running)", *psCount)
		ts := []timing{
			{name: "ps" + label, args: map[string][]string{"rless": {"ps"}, "podman": {"ps"}}, target: 0.1},
			{name: "ps -a" + label, args: map[string][]string{"rless": {"ps", "-a"}, "podman": {"ps", "-a"}}, target: 0.1},
		}
		rs, err := timeAll(ctx, &c, ts, *n, *warmup, nil)
		rep.Timings = append(rep.Timings, rs...)
		if err != nil {
			return err
		}
		for _, t := range c.tools {
			start := time.Now()
			if _, _, err := runCmd(t.env, t.argv(append(slices.Clone(t.rmForce), "-a")...)); err != nil {
				return err
			}
			fmt.Printf("%s: %d containers removed (rm -fa) in %.1f s\n", t.name, *psCount, time.Since(start).Seconds())
		}
	}
	if len(rep.Timings) > 0 {
		fmt.Println()
		printTimings(os.Stdout, rep.Timings)
	}

	if !skips["mem"] {
		fmt.Println()
		ms, err := measureMemory(ctx, &c, mvs, *memCount, after)
		rep.Memory = ms
		if err != nil {
			return err
		}
		var r, p float64
		for _, m := range ms {
			switch m.Variant {
			case "rless":
				r = m.PerContainer.Pss
			case "podman":
				p = m.PerContainer.Pss
			}
		}
		if r > 0 && p > 0 {
			rep.MemRatio = r / p
			rep.MemMet = rep.MemRatio <= maxMemRatio
			fmt.Printf("target: memory per container, rless <= %.1fx podman: %s (%.0f kB / %.0f kB = %.2fx)\n",
				maxMemRatio, verdict(rep.MemMet), r, p, rep.MemRatio)
		}
	}
	return benchio.WriteJSON(*jsonOut, rep)
}

// timeAll times the measurements ts, n rounds after warmup rounds. after,
// when not nil, runs (untimed) after each timed command with its output.
func timeAll(ctx context.Context, c *config, ts []timing, n, warmup int, after func(t *tool, out string) error) ([]timingResult, error) {
	samples := make([]map[string][]time.Duration, len(ts))
	for i := range samples {
		samples[i] = map[string][]time.Duration{}
	}
	for round := 0; round < warmup+n; round++ {
		order := c.tools
		if round%2 == 1 {
			order = []*tool{c.pm, c.rl}
		}
		for i, m := range ts {
			for _, t := range order {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				out, d, err := runCmd(t.env, t.argv(m.args[t.name]...))
				if err != nil {
					return nil, fmt.Errorf("%s, round %d: %w", m.name, round+1, err)
				}
				if after != nil {
					if err := after(t, out); err != nil {
						return nil, fmt.Errorf("%s, round %d, after the run: %w", m.name, round+1, err)
					}
				}
				if round >= warmup {
					samples[i][t.name] = append(samples[i][t.name], d)
				}
			}
		}
	}
	var rs []timingResult
	for i, m := range ts {
		r := timingResult{Name: m.name,
			Rless:  summarize(c.rl.name, c.rl.argv(m.args["rless"]...), samples[i]["rless"]),
			Podman: summarize(c.pm.name, c.pm.argv(m.args["podman"]...), samples[i]["podman"]),
		}
		r.Ratio = r.Rless.MedianMS / r.Podman.MedianMS
		if m.target > 0 {
			met := r.Ratio <= m.target
			r.MaxRatio, r.TargetMet = m.target, &met
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// startN starts k containers (sleep 1000) with t and run flags, and
// returns their ids.
func startN(ctx context.Context, t *tool, k int, flags ...string) ([]string, error) {
	var ids []string
	for range k {
		if err := ctx.Err(); err != nil {
			return ids, err
		}
		argv := t.argv(append(append([]string{"run", "-d", "--pull=never"}, flags...), append([]string{imageName}, containerCmd...)...)...)
		out, _, err := runCmd(t.env, argv)
		if err != nil {
			return ids, err
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	return ids, nil
}

// removeAll removes every container of both tools.
func removeAll(c *config) error {
	var errs []error
	for _, t := range c.tools {
		if _, _, err := runCmd(t.env, t.argv(append(slices.Clone(t.rmForce), "-a")...)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanup removes the containers, stops podman's pause process and
// removes the stores, inside each tool's user namespace (their files
// belong to subordinate ids).
func cleanup(c *config) {
	warn := func(err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-lifecycle: cleanup: %v\n", err)
		}
	}
	warn(removeAll(c))
	_, _, err := runCmd(nil, c.rl.argv("unshare", "rm", "-rf", c.store, c.runRoot))
	warn(err)
	// podman bind-mounts its overlay directory onto itself in its mount
	// namespace (that of the pause process).
	_, _, err = runCmd(c.pm.env, c.pm.argv("unshare", "sh", "-c", `umount "$1/overlay" 2>/dev/null; rm -rf "$1" "$2"`, "sh", c.podmanRoot, c.podmanRunRoot))
	warn(err)
	// podman system migrate stops the pause process (the benchmark's own,
	// see writePodmanConf); it is run on a throwaway store, which it
	// creates outside any user namespace.
	if pid := pausePid(c); pid > 0 {
		env := slices.Clone(c.pm.env)
		env = append(env, "CONTAINERS_STORAGE_CONF=/dev/null")
		tmp := filepath.Join(c.short, "migrate")
		_, _, err = runCmd(env, []string{"podman", "--root", filepath.Join(tmp, "root"), "--runroot", filepath.Join(tmp, "rr"), "system", "migrate"})
		warn(err)
		for i := 0; i < 50 && processAlive(pid); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if processAlive(pid) {
			warn(fmt.Errorf("podman's pause process %d is still running after podman system migrate; killing it", pid))
			warn(syscall.Kill(pid, syscall.SIGKILL))
		}
	}
}

func processAlive(pid int) bool {
	t, err := readProcs()
	return err == nil && t[pid] != nil
}

// runCmd runs argv with env (nil: the benchmark's) and returns its
// standard output and wall time (that of exec.Cmd.Run). Its standard error
// is returned in the error when it fails.
func runCmd(env, argv []string) (string, time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return stdout.String(), d, fmt.Errorf("%s: %w\nstderr:\n%s", strings.Join(argv, " "), err, strings.TrimRight(stderr.String(), "\n"))
	}
	return stdout.String(), d, nil
}

// stderrOf returns the standard error in an *exec.ExitError, for messages.
func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return "\nstderr:\n" + strings.TrimRight(string(ee.Stderr), "\n")
	}
	return ""
}

func summarize(name string, argv []string, ds []time.Duration) stats {
	s := make([]float64, len(ds))
	for i, d := range ds {
		s[i] = float64(d) / float64(time.Millisecond)
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	return stats{Tool: name, Argv: argv, Runs: len(s), MinMS: sorted[0], MedianMS: benchio.Median(s),
		P90MS: benchio.Percentile(s, 90), MeanMS: sum / float64(len(s)), Samples: s}
}

func printTimings(w io.Writer, rs []timingResult) {
	width := len("measurement")
	for _, r := range rs {
		width = max(width, len(r.Name))
	}
	fmt.Fprintf(w, "%-*s  %4s  %12s  %9s  %13s  %10s  %6s  %s\n", width, "measurement", "runs", "rless median", "rless p90", "podman median", "podman p90", "ratio", "target")
	for _, r := range rs {
		tgt := "-"
		if r.TargetMet != nil {
			tgt = fmt.Sprintf("<= %.1fx: %s", r.MaxRatio, verdict(*r.TargetMet))
		}
		fmt.Fprintf(w, "%-*s  %4d  %9.1f ms  %6.1f ms  %10.1f ms  %7.1f ms  %5.2fx  %s\n", width, r.Name, r.Rless.Runs,
			r.Rless.MedianMS, r.Rless.P90MS, r.Podman.MedianMS, r.Podman.P90MS, r.Ratio, tgt)
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "NOT met"
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range splitList(s) {
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && d <= out[len(out)-1] {
			return nil, errors.New("durations must increase")
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errors.New("no duration")
	}
	return out, nil
}
