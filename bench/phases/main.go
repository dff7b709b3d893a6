// Command phases shows when each step of a command happens, from the log
// lines it writes to standard error: normally the steps of starting a
// container, from rless's debug log. Run it as the user rless should run
// as (an unprivileged user), from the repository root:
//
//	go run ./bench/phases [-n N] [-warmup W] [-json FILE] -- rless --log-level debug run --rootfs R true
//
// It runs the command (no shell) -warmup times uncounted, then -n times,
// capturing its standard error, and reads the lines internal/logging makes
// log/slog's text handler write, of any level and from any process (the
// processes rless re-executes log the same way), such as
//
//	time=09:11:38.123456 level=DEBUG msg="spawn container init" pid=4242
//	time=09:11:38.124001 level=DEBUG msg=mapped pid=4243
//
// ignoring other lines. Their time is the local time of day with
// microseconds (layout 15:04:05.000000), taken on the day that puts it
// within 12 hours of the run's start. A message's offset is its time minus
// the moment just before the process was started; "end" is when waiting for
// it returned. A message logged again in a run counts as "msg #2", "msg #3",
// ... A process in another time zone (inside a root file system without
// /etc/localtime, say) would be off by hours: lines outside their run are
// counted and reported.
//
// It prints, sorted by median offset, each message's median offset and
// quartiles (p25, p75; nearest rank) in ms and the number of runs it was
// seen in. It is a measurement, not a test.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rless/rless/internal/benchio"
)

// timeLayout is the time format of internal/logging.
const timeLayout = "15:04:05.000000"

// parseLine returns the time of day and message of a log line of
// internal/logging, and false if line is not one.
func parseLine(line string) (clock time.Duration, msg string, ok bool) {
	rest, ok := strings.CutPrefix(line, "time=")
	if !ok || len(rest) < len(timeLayout) {
		return 0, "", false
	}
	t, err := time.Parse(timeLayout, rest[:len(timeLayout)])
	if err != nil {
		return 0, "", false
	}
	clock = t.Sub(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC))
	rest, ok = strings.CutPrefix(rest[len(timeLayout):], " level=")
	if !ok {
		return 0, "", false
	}
	if _, rest, ok = strings.Cut(rest, " "); !ok {
		return 0, "", false
	}
	if rest, ok = strings.CutPrefix(rest, "msg="); !ok {
		return 0, "", false
	}
	if strings.HasPrefix(rest, `"`) {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return 0, "", false
		}
		msg, _ = strconv.Unquote(q)
		return clock, msg, true
	}
	msg, _, _ = strings.Cut(rest, " ")
	return clock, msg, true
}

// offset returns how long after start the time of day clock (in start's
// location) is, taking the day within 12 hours of start.
func offset(start time.Time, clock time.Duration) time.Duration {
	y, m, d := start.Date()
	// time.Date normalizes the nanoseconds into the time of day.
	off := time.Date(y, m, d, 0, 0, 0, int(clock), start.Location()).Sub(start)
	switch {
	case off < -12*time.Hour:
		off += 24 * time.Hour
	case off > 12*time.Hour:
		off -= 24 * time.Hour
	}
	return off
}

type phase struct {
	Msg       string    `json:"msg"`
	OffsetsMS []float64 `json:"offsets_ms"`
	MedianMS  float64   `json:"median_ms"`
	P25MS     float64   `json:"p25_ms"`
	P75MS     float64   `json:"p75_ms"`
}

type report struct {
	Time    time.Time `json:"time"`
	Argv    []string  `json:"argv"`
	Runs    int       `json:"runs"`
	Warmup  int       `json:"warmup"`
	Outside int       `json:"lines_outside_run"`
	Phases  []*phase  `json:"phases"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "phases: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 20, "counted runs")
	warmup := flag.Int("warmup", 2, "uncounted warm-up runs before them")
	jsonOut := flag.String("json", "", "also write the results as JSON to `FILE`")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: phases [flags] -- rless --log-level debug run --rootfs R true\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *n < 1 || *warmup < 0 {
		return errors.New("-n must be at least 1 and -warmup at least 0")
	}
	if flag.NArg() == 0 {
		flag.Usage()
		return errors.New("no command")
	}
	rep := report{Time: time.Now().UTC(), Argv: flag.Args(), Runs: *n, Warmup: *warmup}
	offsets := map[string][]float64{} // by message, in ms
	for r := 0; r < *warmup+*n; r++ {
		var stderr bytes.Buffer
		cmd := exec.Command(rep.Argv[0], rep.Argv[1:]...)
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Start()
		if err == nil {
			err = cmd.Wait()
		}
		end := time.Since(start)
		if err != nil {
			return fmt.Errorf("run %d: %w\nstderr:\n%s", r+1, err, strings.TrimRight(stderr.String(), "\n"))
		}
		if r < *warmup {
			continue
		}
		seen := map[string]int{}
		sc := bufio.NewScanner(&stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			clock, msg, ok := parseLine(sc.Text())
			if !ok {
				continue
			}
			d := offset(start, clock)
			if d < -time.Millisecond || d > end+time.Millisecond {
				rep.Outside++
			}
			if seen[msg]++; seen[msg] > 1 {
				msg = fmt.Sprintf("%s #%d", msg, seen[msg])
			}
			offsets[msg] = append(offsets[msg], ms(d))
		}
		offsets["end"] = append(offsets["end"], ms(end))
	}

	for msg, v := range offsets {
		rep.Phases = append(rep.Phases, &phase{Msg: msg, OffsetsMS: v,
			MedianMS: benchio.Median(v), P25MS: benchio.Percentile(v, 25), P75MS: benchio.Percentile(v, 75)})
	}
	slices.SortFunc(rep.Phases, func(a, b *phase) int {
		return cmp.Or(cmp.Compare(a.MedianMS, b.MedianMS), strings.Compare(a.Msg, b.Msg))
	})
	fmt.Printf("command: %s\nruns: %d (+%d warm-up); offsets in ms from the start of the process\n", strings.Join(rep.Argv, " "), *n, *warmup)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "median\tp25\tp75\truns\t  message")
	for _, p := range rep.Phases {
		fmt.Fprintf(tw, "%.2f\t%.2f\t%.2f\t%d\t  %s\n", p.MedianMS, p.P25MS, p.P75MS, len(p.OffsetsMS), p.Msg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Outside > 0 {
		fmt.Printf("warning: %d log lines fall outside their run (another time zone?)\n", rep.Outside)
	}
	return benchio.WriteJSON(*jsonOut, rep)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
