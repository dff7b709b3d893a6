package slirp

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rless/rless/pkg/network"
)

// BenchmarkIperf3 measures TCP throughput from the namespace to an iperf3
// server on a host address, with the stack in this process, and logs the
// peak RSS of the process. RLESS_SLIRP_IPERF3 holds iperf3 client options
// (default "-t 10"; "-t 10 -R" or "-t 10 -P 4", say):
//
//	go test -run XXX -bench Iperf3 -v ./pkg/slirp/
//
// bench/network compares the whole of rless's default network with
// slirp4netns and pasta.
func BenchmarkIperf3(t *testing.B) {
	opts, ok := os.LookupEnv("RLESS_SLIRP_IPERF3")
	if !ok {
		opts = "-t 10"
	}
	iperf, err := exec.LookPath("iperf3")
	if err != nil {
		t.Skip("iperf3 not installed")
	}
	ip, ok := network.HostAddress()
	if !ok {
		t.Skip("no non-loopback host address")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port) // free, as far as can be known
	l.Close()
	srv := exec.Command(iperf, "-s", "-B", ip.String(), "-p", port, "--forceflush")
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	// Until it listens: it says so (--forceflush: not buffered in a pipe).
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "Server listening") {
	}
	go io.Copy(io.Discard, out)

	spec := childSpec{Cfg: network.DefaultConfig()}
	spec.Command = append([]string{iperf, "-c", ip.String(), "-p", port}, strings.Fields(opts)...)
	c, _ := startNetwork(t, context.Background(), spec, nil)
	c.finish(t)
	status, _ := os.ReadFile("/proc/self/status")
	for line := range bytes.Lines(status) {
		if bytes.HasPrefix(line, []byte("VmHWM")) || bytes.HasPrefix(line, []byte("VmRSS")) {
			t.Logf("stack process %s", bytes.TrimSpace(line))
		}
	}
}
