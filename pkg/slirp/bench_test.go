package slirp

import (
	"bytes"
	"context"
	"github.com/rless/rless/pkg/network"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestIperf3 measures TCP throughput from the namespace to an iperf3 server
// on a host address, and the peak RSS of the process running the stack. It
// runs only when RLESS_SLIRP_IPERF3 is set (to iperf3 client options such as
// "-t 10" or "-t 10 -R"), as it takes a while.
func TestIperf3(t *testing.T) {
	opts, ok := os.LookupEnv("RLESS_SLIRP_IPERF3")
	if !ok {
		t.Skip("set RLESS_SLIRP_IPERF3 (e.g. to \"-t 10\") to measure throughput with iperf3")
	}
	iperf, err := exec.LookPath("iperf3")
	if err != nil {
		t.Skip("iperf3 not installed")
	}
	ip, ok := network.HostAddress()
	if !ok {
		t.Skip("no non-loopback host address")
	}
	srv := exec.Command(iperf, "-s", "-B", ip.String(), "-p", "25201")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	time.Sleep(300 * time.Millisecond)

	spec := childSpec{Cfg: network.DefaultConfig()}
	spec.Command = append([]string{iperf, "-c", ip.String(), "-p", "25201"}, strings.Fields(opts)...)
	c, tap := startChild(t, spec)
	n, err := Start(context.Background(), tap, spec.Cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c.result(t)
	c.finish(t)
	status, _ := os.ReadFile("/proc/self/status")
	for line := range bytes.Lines(status) {
		if bytes.HasPrefix(line, []byte("VmHWM")) || bytes.HasPrefix(line, []byte("VmRSS")) {
			t.Logf("stack process %s", bytes.TrimSpace(line))
		}
	}
}
