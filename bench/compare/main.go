// Command compare measures the wall and CPU time of a few commands against
// each other, for comparing two builds of a program or two ways of running
// it when the difference is a few percent and the machine's speed drifts.
// Run it as the user the commands should run as (an unprivileged user for
// rless), from the repository root:
//
//	go run ./bench/compare [-n N] [-warmup W] [-gap 40ms] [-json FILE] -- 'CMD1 ARGS' 'CMD2 ARGS' ...
//
// Each command is one argument, split at white space (as strings.Fields)
// into a program and its arguments, with no shell. Each round runs every
// command once, in an order shuffled anew for every round (the command run
// first in a round tends to be slower), sleeping -gap before each run; the
// first -warmup rounds are not counted. The wall time is that of
// exec.Cmd.Run; the CPU time is the child's user plus system time as wait4
// reports it, which covers the child and those of its descendants that
// were waited for (by it or by a descendant waited for), not processes left
// running or reaped by another process (a subreaper, PID 1).
//
// It prints, for each command, the median and quartiles (p25, p75;
// nearest rank) of its wall and CPU times in ms, and of its paired ratio
// to the first command: per round, its wall time over the first command's.
// A command that fails is reported with its error once, not run again and
// not counted, and makes compare exit with status 1 at the end. It is a
// measurement, not a test.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rless/rless/internal/benchio"
)

// stats is the median and quartiles of some samples.
type stats struct {
	Median float64 `json:"median"`
	P25    float64 `json:"p25"`
	P75    float64 `json:"p75"`
}

func summarize(v []float64) stats {
	return stats{Median: benchio.Median(v), P25: benchio.Percentile(v, 25), P75: benchio.Percentile(v, 75)}
}

// command is one command's measurements, in counted rounds.
type command struct {
	Argv   []string  `json:"argv"`
	Failed string    `json:"failed,omitempty"` // the error of its failed run
	WallMS []float64 `json:"wall_ms"`
	CPUMS  []float64 `json:"cpu_ms"`
	Wall   *stats    `json:"wall_ms_stats,omitempty"`
	CPU    *stats    `json:"cpu_ms_stats,omitempty"`
	Ratio  *stats    `json:"wall_ratio_to_first,omitempty"` // paired, per round
}

type report struct {
	Time     time.Time  `json:"time"`
	Runs     int        `json:"runs"`
	Warmup   int        `json:"warmup"`
	GapMS    float64    `json:"gap_ms"`
	Commands []*command `json:"commands"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 30, "counted rounds")
	warmup := flag.Int("warmup", 3, "uncounted warm-up rounds before them")
	gap := flag.Duration("gap", 40*time.Millisecond, "pause before each run")
	jsonOut := flag.String("json", "", "also write the results as JSON to `FILE`")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: compare [flags] -- 'CMD1 ARGS' 'CMD2 ARGS' ...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *n < 1 || *warmup < 0 || *gap < 0 {
		return errors.New("-n must be at least 1, -warmup and -gap at least 0")
	}
	if flag.NArg() == 0 {
		flag.Usage()
		return errors.New("no commands")
	}
	rep := report{Time: time.Now().UTC(), Runs: *n, Warmup: *warmup, GapMS: ms(*gap)}
	for _, arg := range flag.Args() {
		argv := strings.Fields(arg)
		if len(argv) == 0 {
			return fmt.Errorf("empty command %q", arg)
		}
		rep.Commands = append(rep.Commands, &command{Argv: argv})
	}

	stderr, err := os.CreateTemp("", "bench-compare-stderr-")
	if err != nil {
		return err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()

	fmt.Printf("runs: %d rounds (+%d warm-up), order shuffled per round, %v before each run\n", *n, *warmup, *gap)
	for r := 0; r < *warmup+*n; r++ {
		for _, i := range rand.Perm(len(rep.Commands)) {
			c := rep.Commands[i]
			if c.Failed != "" {
				continue
			}
			time.Sleep(*gap)
			wall, cpu, err := runOnce(c.Argv, stderr)
			if err != nil {
				c.Failed = err.Error()
				fmt.Fprintf(os.Stderr, "compare: [%d] failed in round %d: %v\n", i, r+1, err)
				continue
			}
			if r >= *warmup {
				c.WallMS = append(c.WallMS, ms(wall))
				c.CPUMS = append(c.CPUMS, ms(cpu))
			}
		}
	}

	// A failed command is not run again, so the others have a sample for
	// every counted round, and ratios pair the same rounds.
	first := rep.Commands[0]
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tcommand\twall ms median (p25-p75)\tCPU ms median (p25-p75)\twall / [0] median (p25-p75)")
	failed := false
	for i, c := range rep.Commands {
		name := strings.Join(c.Argv, " ")
		if c.Failed != "" {
			failed = true
			fmt.Fprintf(tw, "[%d]\t%s\tFAILED\t-\t-\n", i, name)
			continue
		}
		w, u := summarize(c.WallMS), summarize(c.CPUMS)
		c.Wall, c.CPU = &w, &u
		ratio := "-"
		if first.Failed == "" {
			q := make([]float64, len(c.WallMS))
			for k := range q {
				q[k] = c.WallMS[k] / first.WallMS[k]
			}
			s := summarize(q)
			c.Ratio = &s
			ratio = fmt.Sprintf("%.3f (%.3f-%.3f)", s.Median, s.P25, s.P75)
		}
		fmt.Fprintf(tw, "[%d]\t%s\t%.2f (%.2f-%.2f)\t%.2f (%.2f-%.2f)\t%s\n", i, name, w.Median, w.P25, w.P75, u.Median, u.P25, u.P75, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := benchio.WriteJSON(*jsonOut, rep); err != nil {
		return err
	}
	if failed {
		return errors.New("some commands failed")
	}
	return nil
}

// runOnce runs argv and returns its wall time (of exec.Cmd.Run) and CPU
// time (user plus system). Standard input and output are /dev/null;
// standard error goes to the file stderr, emptied first, and is returned in
// the error when the command fails.
func runOnce(argv []string, stderr *os.File) (wall, cpu time.Duration, err error) {
	if err := stderr.Truncate(0); err != nil {
		return 0, 0, err
	}
	if _, err := stderr.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(stderr.Name())
		if s := strings.TrimSpace(string(msg)); s != "" {
			err = fmt.Errorf("%s: %w (stderr: %s)", strings.Join(argv, " "), err, s)
		} else {
			err = fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
		return 0, 0, err
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
