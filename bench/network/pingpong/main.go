// Command pingpong measures TCP round trips: it connects to an echo server,
// sends a 1-byte message and waits for the 1-byte echo, n times after a few
// unmeasured warm-up round trips, and prints the round-trip times in
// microseconds as one JSON line: {"n":..,"p50_us":..,"p99_us":..,"mean_us":..}.
//
// bench/network runs it in containers; it is built static (CGO_ENABLED=0)
// so that it needs nothing from the root filesystem.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/rless/rless/internal/benchio"
)

func main() {
	addr := flag.String("addr", "", "echo server `HOST:PORT`")
	n := flag.Int("n", 10000, "measured round trips")
	warmup := flag.Int("warmup", 200, "unmeasured round trips first")
	flag.Parse()
	if err := run(*addr, *n, *warmup); err != nil {
		fmt.Fprintf(os.Stderr, "pingpong: %v\n", err)
		os.Exit(1)
	}
}

func run(addr string, n, warmup int) error {
	if addr == "" || n < 1 {
		return fmt.Errorf("usage: pingpong -addr HOST:PORT [-n N] [-warmup N]")
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := []byte{'x'}
	rtts := make([]time.Duration, 0, n)
	for i := range warmup + n {
		start := time.Now()
		if _, err := conn.Write(buf); err != nil {
			return err
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			return err
		}
		if i >= warmup {
			rtts = append(rtts, time.Since(start))
		}
	}
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	// Nearest-rank percentiles: p50 is the lower middle value when n is
	// even.
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"n":       n,
		"p50_us":  us(benchio.Percentile(rtts, 50)),
		"p99_us":  us(benchio.Percentile(rtts, 99)),
		"mean_us": us(sum / time.Duration(n)),
	})
}
