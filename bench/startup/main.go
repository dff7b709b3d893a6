// Command bench-startup measures how long it takes to start a container,
// run "true" in it and tear it down, with rless and with other rootless
// launchers for comparison.
//
// Runs are interleaved (one run of every case per round) so that machine
// noise affects all cases alike. It must run as an unprivileged user; as
// root, use bench/startup/run.sh, which runs it as the test user.
//
// It is a measurement, not a test: a missed target is reported, never an
// error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rless/rless/internal/benchio"
	"github.com/rless/rless/internal/busybox"
)

// config is what the cases are built from.
type config struct {
	rless  string // absolute path of the rless binary
	rootfs string // absolute path of the root filesystem
	// the image cases' stores (see setupImages)
	store, podmanRoot, podmanRunRoot string
}

// benchCase is one way of starting a container running "true".
type benchCase struct {
	name string
	// argv returns the command line to run (argv[0] is looked up in PATH
	// unless it contains a slash).
	argv func(c config) []string
	// available reports whether the case can run here; when it cannot,
	// note says why.
	available func(c config) (ok bool, note string)
}

// cases is the table of known cases, in the order they are run and printed.
var cases = []benchCase{
	{
		name: "rless",
		argv: func(c config) []string {
			return []string{c.rless, "run", "--rootfs", c.rootfs, "--network", "none", "true"}
		},
		available: always,
	},
	{
		name: "rless-noinit",
		argv: func(c config) []string {
			return []string{c.rless, "run", "--rootfs", c.rootfs, "--network", "none", "--init=false", "true"}
		},
		available: always,
	},
	{
		// What the default confinement costs (issue 3): the same without
		// the seccomp filter and with every capability kept.
		name: "rless-unconfined",
		argv: func(c config) []string {
			return []string{c.rless, "run", "--rootfs", c.rootfs, "--network", "none", "--security-opt", "seccomp=unconfined", "--cap-add", "ALL", "true"}
		},
		available: always,
	},
	{
		name: "bwrap",
		argv: func(c config) []string {
			return []string{"bwrap", "--unshare-all", "--bind", c.rootfs, "/", "--proc", "/proc", "--dev", "/dev", "true"}
		},
		available: onPath("bwrap"),
	},
}

// target is a ratio of medians that a case should stay within.
type target struct {
	name, baseline string
	maxRatio       float64
}

var targets = []target{
	{name: "rless", baseline: "bwrap", maxRatio: 3.0},
}

// cost is a difference of medians that should stay within a bound.
type cost struct {
	what, name, minus string
	maxMS             float64
}

var costs = []cost{
	{what: "default confinement", name: "rless", minus: "rless-unconfined", maxMS: 2.0},
}

func always(config) (bool, string) { return true, "" }

// onPath returns an available function that is true when all of progs
// are on PATH.
func onPath(progs ...string) func(config) (bool, string) {
	return func(config) (bool, string) {
		for _, prog := range progs {
			if _, err := exec.LookPath(prog); err != nil {
				return false, prog + " is not on PATH"
			}
		}
		return true, ""
	}
}

// result holds the measurements of one case.
type result struct {
	Name     string    `json:"name"`
	Argv     []string  `json:"argv"`
	Runs     int       `json:"runs"`
	MinMS    float64   `json:"min_ms"`
	MedianMS float64   `json:"median_ms"`
	P90MS    float64   `json:"p90_ms"`
	MeanMS   float64   `json:"mean_ms"`
	Samples  []float64 `json:"samples_ms"`
}

type ratio struct {
	Name     string  `json:"name"`
	Baseline string  `json:"baseline"`
	Ratio    float64 `json:"median_ratio"`
}

type targetResult struct {
	Name     string   `json:"name"`
	Baseline string   `json:"baseline"`
	MaxRatio float64  `json:"max_ratio"`
	Ratio    *float64 `json:"median_ratio"` // nil when a case did not run
	Met      *bool    `json:"met"`
}

type report struct {
	Time     time.Time      `json:"time"`
	Rootfs   string         `json:"rootfs"`
	Runs     int            `json:"runs"`
	Warmup   int            `json:"warmup"`
	Sync     bool           `json:"sync"` // file systems flushed before each run
	Baseline string         `json:"baseline"`
	Cases    []result       `json:"cases"`
	Skipped  []string       `json:"skipped,omitempty"`
	Ratios   []ratio        `json:"ratios"`
	Targets  []targetResult `json:"targets"`
	Costs    []costResult   `json:"costs"`
}

type costResult struct {
	What  string  `json:"what"`
	MS    float64 `json:"ms"`
	MaxMS float64 `json:"max_ms"`
	Met   bool    `json:"met"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-startup: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	rlessPath := flag.String("rless", "", "path of the rless `binary` (required)")
	rootfsFlag := flag.String("rootfs", "", "root filesystem `DIR` (default: build a busybox one in a temporary directory)")
	n := flag.Int("n", 50, "timed runs per case")
	warmup := flag.Int("warmup", 5, "untimed warm-up runs per case")
	settle := flag.Bool("sync", true, "flush the file systems (sync) before each run, so that no case's writeback falls on the next one's time")
	caseList := flag.String("cases", "", "comma-separated `list` of cases to run (default: all available: "+strings.Join(caseNames(), ",")+")")
	baseline := flag.String("baseline", "bwrap", "`case` whose median the others are compared with")
	jsonOut := flag.String("json", "", "also write the results as JSON to `FILE`")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}

	if os.Getuid() == 0 {
		return errors.New("running as root: the benchmark measures rootless containers and must run as an unprivileged user; use bench/startup/run.sh, which runs it as the test user")
	}
	if *rlessPath == "" {
		return errors.New("-rless is required")
	}
	if *n < 1 || *warmup < 0 {
		return errors.New("-n must be at least 1 and -warmup at least 0")
	}
	var cfg config
	var err error
	if cfg.rless, err = filepath.Abs(*rlessPath); err != nil {
		return err
	}
	if fi, err := os.Stat(cfg.rless); err != nil {
		return fmt.Errorf("-rless: %w", err)
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("-rless: %s is not an executable file", cfg.rless)
	}

	selected, err := selectCases(*caseList)
	if err != nil {
		return err
	}

	if *rootfsFlag != "" {
		if cfg.rootfs, err = filepath.Abs(*rootfsFlag); err != nil {
			return err
		}
		if fi, err := os.Stat(cfg.rootfs); err != nil {
			return fmt.Errorf("-rootfs: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("-rootfs: %s is not a directory", cfg.rootfs)
		}
	} else {
		tmp, err := os.MkdirTemp("", "bench-startup-")
		if err != nil {
			return err
		}
		defer func() {
			if err := os.RemoveAll(tmp); err != nil {
				fmt.Fprintf(os.Stderr, "bench-startup: warning: removing %s: %v\n", tmp, err)
			}
		}()
		cfg.rootfs = filepath.Join(tmp, "rootfs")
		if err := busybox.Rootfs(cfg.rootfs, nil); err != nil {
			return fmt.Errorf("building the busybox root filesystem: %w", err)
		}
	}

	if slices.ContainsFunc(selected, func(c benchCase) bool { return strings.Contains(c.name, "image") }) {
		dir, err := os.MkdirTemp("/var/tmp", "bench-startup-images-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		withPodman, _ := podmanAvailable(cfg)
		cleanup, err := setupImages(&cfg, dir, withPodman)
		if cleanup != nil {
			defer cleanup()
		}
		if err != nil {
			return fmt.Errorf("setting up the image cases: %w", err)
		}
	}

	rep := report{Time: time.Now().UTC(), Rootfs: cfg.rootfs, Runs: *n, Warmup: *warmup, Sync: *settle, Baseline: *baseline}
	var active []benchCase
	for _, c := range selected {
		if ok, note := c.available(cfg); !ok {
			fmt.Printf("skipping %s: %s\n", c.name, note)
			rep.Skipped = append(rep.Skipped, c.name)
			continue
		}
		active = append(active, c)
	}
	if len(active) == 0 {
		return errors.New("no case can run")
	}

	fmt.Printf("rootfs: %s\n", cfg.rootfs)
	fmt.Printf("runs: %d per case (+%d warm-up), interleaved\n", *n, *warmup)
	for _, c := range active {
		fmt.Printf("  %s: %s\n", c.name, strings.Join(c.argv(cfg), " "))
	}

	stderr, err := os.CreateTemp("", "bench-startup-stderr-")
	if err != nil {
		return err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()

	samples := make([][]time.Duration, len(active))
	for round := 0; round < *warmup+*n; round++ {
		for i, c := range active {
			if *settle {
				syscall.Sync()
			}
			d, err := runOnce(c.argv(cfg), stderr)
			if err != nil {
				return fmt.Errorf("case %s, round %d: %w", c.name, round+1, err)
			}
			if round >= *warmup {
				samples[i] = append(samples[i], d)
			}
		}
	}

	medians := map[string]float64{}
	for i, c := range active {
		r := summarize(c.name, c.argv(cfg), samples[i])
		rep.Cases = append(rep.Cases, r)
		medians[c.name] = r.MedianMS
	}
	printTable(os.Stdout, rep.Cases)
	fmt.Println()

	if base, ok := medians[*baseline]; ok {
		for _, r := range rep.Cases {
			if r.Name == *baseline {
				continue
			}
			q := r.MedianMS / base
			rep.Ratios = append(rep.Ratios, ratio{Name: r.Name, Baseline: *baseline, Ratio: q})
			fmt.Printf("%s / %s median ratio: %.2f\n", r.Name, *baseline, q)
		}
	} else {
		fmt.Printf("baseline %s did not run: no ratios\n", *baseline)
	}

	for _, t := range targets {
		tr := targetResult{Name: t.name, Baseline: t.baseline, MaxRatio: t.maxRatio}
		fmt.Printf("target: %s median <= %.2fx %s: ", t.name, t.maxRatio, t.baseline)
		m, ok1 := medians[t.name]
		b, ok2 := medians[t.baseline]
		if !ok1 || !ok2 {
			fmt.Println("not measured (a case did not run)")
		} else {
			q := m / b
			met := q <= t.maxRatio
			tr.Ratio, tr.Met = &q, &met
			verdict := "met"
			if !met {
				verdict = "NOT met"
			}
			fmt.Printf("%s (%.2fx)\n", verdict, q)
		}
		rep.Targets = append(rep.Targets, tr)
	}

	for _, c := range costs {
		m, ok1 := medians[c.name]
		b, ok2 := medians[c.minus]
		if !ok1 || !ok2 {
			fmt.Printf("%s cost: not measured (a case did not run)\n", c.what)
			continue
		}
		d := m - b
		verdict := "met"
		if d > c.maxMS {
			verdict = "NOT met"
		}
		fmt.Printf("%s cost (%s - %s medians): %.2f ms; target < %.2f ms: %s\n", c.what, c.name, c.minus, d, c.maxMS, verdict)
		rep.Costs = append(rep.Costs, costResult{What: c.what, MS: d, MaxMS: c.maxMS, Met: d <= c.maxMS})
	}

	if err := benchio.WriteJSON(*jsonOut, rep); err != nil {
		return err
	}
	return nil
}

func caseNames() []string {
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	return names
}

// selectCases returns the cases named in list (all when it is empty), in
// table order.
func selectCases(list string) ([]benchCase, error) {
	names, err := benchio.Select(list, caseNames())
	if err != nil {
		return nil, fmt.Errorf("-cases: %w", err)
	}
	var out []benchCase
	for _, c := range cases {
		if slices.Contains(names, c.name) {
			out = append(out, c)
		}
	}
	return out, nil
}

// runOnce runs argv and returns the wall time of exec.Cmd.Run. Standard
// input and output are /dev/null; standard error goes to the file stderr,
// emptied first, and is returned in the error when the command fails.
func runOnce(argv []string, stderr *os.File) (time.Duration, error) {
	if err := stderr.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := stderr.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(stderr.Name())
		return 0, fmt.Errorf("%s: %w\nstderr:\n%s", strings.Join(argv, " "), err, strings.TrimRight(string(msg), "\n"))
	}
	return d, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func summarize(name string, argv []string, ds []time.Duration) result {
	s := make([]float64, len(ds))
	for i, d := range ds {
		s[i] = ms(d)
	}
	// Summed in ascending order: the mean's last digits depend on the order.
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	k := len(s)
	return result{
		Name: name, Argv: argv, Runs: k,
		MinMS: sorted[0], MedianMS: benchio.Median(s), P90MS: benchio.Percentile(s, 90), MeanMS: sum / float64(k),
		Samples: s,
	}
}

func printTable(w io.Writer, rs []result) {
	width := len("case")
	for _, r := range rs {
		width = max(width, len(r.Name))
	}
	fmt.Fprintf(w, "%-*s  %5s  %9s  %9s  %9s  %9s\n", width, "case", "runs", "min ms", "median ms", "p90 ms", "mean ms")
	for _, r := range rs {
		fmt.Fprintf(w, "%-*s  %5d  %9.2f  %9.2f  %9.2f  %9.2f\n", width, r.Name, r.Runs, r.MinMS, r.MedianMS, r.P90MS, r.MeanMS)
	}
}
