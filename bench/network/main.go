// Command bench-network measures the throughput and latency of rless's
// default network (slirp: gVisor netstack in the rless-netstack process)
// against slirp4netns and pasta, the userspace networks podman uses:
//
//   - upload: iperf3 -c in the container to an iperf3 server on the host's
//     first non-loopback IPv4 address;
//   - published: iperf3 -s -1 in the container behind a published port
//     (rless -p, slirp4netns add_hostfwd, pasta -t) and iperf3 -c on the
//     host to 127.0.0.1:PORT;
//   - ping-pong: 1-byte TCP round trips from the container (bench/network/
//     pingpong) to an echo server in this program.
//
// While a case runs, the network stack process's peak resident memory is
// sampled (VmHWM in /proc/PID/status, its resident set's high-water mark).
// Runs are interleaved (one run of every case per round) and medians
// reported. It must run as an
// unprivileged user; as root, use bench/network/run.sh.
//
// slirp4netns runs as podman runs it (--configure --mtu=65520
// --disable-host-loopback) on a namespace made by "unshare --user
// --map-root-user --net --mount"; the client joins it with nsenter. pasta
// runs the client itself (--config-net, 10.0.2.100/24 via 10.0.2.2 like the
// others, no automatic port forwarding). Both chroot into the same root
// filesystem as rless, with the host's /dev bound in.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rless/rless/internal/benchio"
	"github.com/rless/rless/internal/busybox"
	"github.com/rless/rless/pkg/network"
)

type bench struct {
	rless, rootfs, tmp string
	host               string // the host's address the containers connect to
	iperfPort          int    // the host's iperf3 server
	echoAddr           string // the host's echo server
	seconds, pings     int
	streams            int // parallel iperf3 streams (-P)
}

// stack is one way of running a command in a network namespace.
type stack struct {
	name, prog string // prog must be on PATH
	// start runs argv in a container on this network, its standard output
	// going to stdout; publish, when not 0, is a host port to forward to
	// the container's port 5201.
	start func(b *bench, argv []string, publish int, stdout io.Writer) (*session, error)
}

// session is a running container: main runs the command, stackPID finds
// the network stack process (0 when not found), relayPID (when not nil)
// the process that relays published ports where the stack does not (rless's
// init), procs are killed on close.
type session struct {
	main     *proc
	stackPID func() int
	relayPID func() int
	procs    []*proc
}

func (s *session) close() {
	for _, p := range slices.Backward(append([]*proc{s.main}, s.procs...)) {
		p.kill()
	}
}

var stacks = []stack{
	{name: "rless", prog: "", start: startRless},
	{name: "slirp4netns", prog: "slirp4netns", start: startSlirp4netns},
	{name: "pasta", prog: "pasta", start: startPasta},
}

// test is one measurement: it returns Gbit/s or round-trip times.
type test struct {
	name string
	run  func(b *bench, st stack) (sample, error)
}

var tests = []test{
	{"upload", upload},
	{"published", published},
	{"ping-pong", pingPong},
}

type sample struct {
	Gbps   float64 `json:"gbps,omitempty"`
	RSSMB  float64 `json:"peak_rss_mb"`
	P50US  float64 `json:"p50_us,omitempty"`
	P99US  float64 `json:"p99_us,omitempty"`
	MeanUS float64 `json:"mean_us,omitempty"`
	// CPUMS is the CPU time (user and system) the stack process used
	// while the case ran, and for rless the container's init too (it
	// relays the published port), in ms; 0 where it could not be read.
	CPUMS float64 `json:"cpu_ms,omitempty"`
	// CPUUS is, for ping-pong, CPUMS per round trip (warm-up included) in µs.
	CPUUS float64 `json:"cpu_us_per_round_trip,omitempty"`
}

type result struct {
	test    test
	stack   stack
	Name    string   `json:"name"`
	Stack   string   `json:"stack"`
	Test    string   `json:"test"`
	Median  sample   `json:"median"`
	MaxRSS  float64  `json:"max_peak_rss_mb"`
	Samples []sample `json:"samples"`
	Error   string   `json:"error,omitempty"`
}

func main() {
	err := run()
	killAll()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-network: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	b := &bench{}
	flag.StringVar(&b.rless, "rless", "", "path of the rless `binary` (required)")
	pingpong := flag.String("pingpong", "", "path of the static pingpong `binary` (required)")
	flag.IntVar(&b.seconds, "t", 10, "iperf3 duration in `seconds`")
	flag.IntVar(&b.pings, "pings", 10000, "ping-pong round trips per run")
	flag.IntVar(&b.streams, "P", 1, "parallel iperf3 `streams` (upload and published)")
	n := flag.Int("n", 3, "runs per case")
	only := flag.String("tests", "", "comma-separated `list` of tests to run (default: upload,published,ping-pong)")
	jsonOut := flag.String("json", "", "also write the results as JSON to `FILE`")
	flag.Parse()
	if os.Getuid() == 0 {
		return errors.New("running as root: the benchmark measures rootless containers; use bench/network/run.sh, which runs it as the test user")
	}
	if b.rless == "" || *pingpong == "" || flag.NArg() != 0 || *n < 1 || b.seconds < 1 || b.streams < 1 {
		flag.Usage()
		return errors.New("bad usage")
	}
	testNames := make([]string, len(tests))
	for i, t := range tests {
		testNames[i] = t.name
	}
	selected, err := benchio.Select(*only, testNames)
	if err != nil {
		return fmt.Errorf("-tests: %w", err)
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		return errors.New("iperf3 is not on PATH (apt-get install iperf3)")
	}
	if b.rless, err = filepath.Abs(b.rless); err != nil {
		return err
	}
	addr, ok := network.HostAddress()
	if !ok {
		return errors.New("no non-loopback IPv4 address")
	}
	b.host = addr.String()

	if b.tmp, err = os.MkdirTemp("", "bench-network-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sigs
		killAll() // the case running fails, and run returns
	}()
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		dir := filepath.Join(b.tmp, "xdg")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		os.Setenv("XDG_RUNTIME_DIR", dir)
	}
	b.rootfs = filepath.Join(b.tmp, "rootfs")
	if err := makeRootfs(b.rootfs, *pingpong); err != nil {
		return fmt.Errorf("building the root filesystem: %w", err)
	}

	// The host's servers.
	if b.iperfPort, err = freePort(b.host); err != nil {
		return err
	}
	w := newWatch("Server listening")
	srv, err := start([]string{"iperf3", "-s", "-B", b.host, "-p", strconv.Itoa(b.iperfPort), "--forceflush"}, w)
	if err != nil {
		return err
	}
	defer srv.kill()
	if err := w.wait(srv, 10*time.Second); err != nil {
		return fmt.Errorf("host iperf3 server: %w", err)
	}
	echo, err := echoServer(b.host)
	if err != nil {
		return err
	}
	defer echo.Close()
	b.echoAddr = echo.Addr().String()

	var active []stack
	var skipped []string
	for _, st := range stacks {
		if st.prog != "" {
			if _, err := exec.LookPath(st.prog); err != nil {
				fmt.Printf("skipping %s: %s is not on PATH\n", st.name, st.prog)
				skipped = append(skipped, st.name)
				continue
			}
		}
		active = append(active, st)
	}
	fmt.Printf("host address %s, iperf3 -t %d -P %d, %d ping-pongs, %d runs per case, interleaved\n", b.host, b.seconds, b.streams, b.pings, *n)

	// One result per case, in the order the cases run in each round.
	var results []*result
	for _, t := range tests {
		if !slices.Contains(selected, t.name) {
			continue
		}
		for _, st := range active {
			results = append(results, &result{test: t, stack: st, Name: st.name + " " + t.name, Stack: st.name, Test: t.name})
		}
	}
	for round := range *n {
		for _, r := range results {
			if r.Error != "" {
				continue
			}
			s, err := r.test.run(b, r.stack)
			if stopped() {
				return errors.New("interrupted")
			}
			if err != nil {
				r.Error = err.Error()
				fmt.Fprintf(os.Stderr, "%s, round %d: %v\n", r.Name, round+1, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "round %d %-22s %s\n", round+1, r.Name, s)
			r.Samples = append(r.Samples, s)
		}
	}
	for _, r := range results {
		if r.Error != "" {
			continue
		}
		median := func(f func(sample) float64) float64 {
			v := make([]float64, len(r.Samples))
			for i, s := range r.Samples {
				v[i] = f(s)
			}
			return benchio.Median(v)
		}
		r.Median = sample{
			Gbps:   median(func(s sample) float64 { return s.Gbps }),
			RSSMB:  median(func(s sample) float64 { return s.RSSMB }),
			P50US:  median(func(s sample) float64 { return s.P50US }),
			P99US:  median(func(s sample) float64 { return s.P99US }),
			MeanUS: median(func(s sample) float64 { return s.MeanUS }),
			CPUMS:  median(func(s sample) float64 { return s.CPUMS }),
			CPUUS:  median(func(s sample) float64 { return s.CPUUS }),
		}
		for _, s := range r.Samples {
			r.MaxRSS = max(r.MaxRSS, s.RSSMB)
		}
	}
	rep := report(os.Stdout, results)
	rep.Time, rep.Host, rep.Seconds, rep.Streams, rep.Runs, rep.Skipped = time.Now().UTC(), b.host, b.seconds, b.streams, *n, skipped
	if err := benchio.WriteJSON(*jsonOut, rep); err != nil {
		return err
	}
	for _, r := range results {
		if r.Error != "" {
			return errors.New("some cases failed")
		}
	}
	return nil
}

func (s sample) String() string {
	if s.Gbps != 0 {
		return fmt.Sprintf("%6.2f Gbit/s  stack peak RSS %5.1f MB", s.Gbps, s.RSSMB)
	}
	return fmt.Sprintf("p50 %.1f µs p99 %.1f µs mean %.1f µs  stack peak RSS %5.1f MB", s.P50US, s.P99US, s.MeanUS, s.RSSMB)
}

// The tests.

// iperf3Result parses the -J output of an iperf3 client: Gbit/s received.
func iperf3Result(out []byte) (float64, error) {
	var j struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &j); err != nil {
		return 0, fmt.Errorf("iperf3 output: %w: %q", err, trim(out))
	}
	if j.Error != "" || j.End.SumReceived.BitsPerSecond == 0 {
		return 0, fmt.Errorf("iperf3: %s", j.Error)
	}
	return j.End.SumReceived.BitsPerSecond / 1e9, nil
}

func upload(b *bench, st stack) (sample, error) {
	var out syncBuffer
	argv := []string{"/usr/bin/iperf3", "-c", b.host, "-p", strconv.Itoa(b.iperfPort), "-t", strconv.Itoa(b.seconds), "-P", strconv.Itoa(b.streams), "-J"}
	rss, cpu, err := measure(b, st, argv, 0, &out, func(s *session) error {
		return s.main.wait(time.Duration(b.seconds)*time.Second + time.Minute)
	})
	if err != nil {
		return sample{}, err
	}
	gbps, err := iperf3Result(out.Bytes())
	return sample{Gbps: gbps, RSSMB: rss, CPUMS: cpu}, err
}

func published(b *bench, st stack) (sample, error) {
	port, err := freePort("127.0.0.1")
	if err != nil {
		return sample{}, err
	}
	var gbps float64
	w := newWatch("Server listening")
	argv := []string{"/usr/bin/iperf3", "-s", "-1", "-p", "5201", "--forceflush"}
	rss, cpu, err := measure(b, st, argv, port, w, func(s *session) error {
		if err := w.wait(s.main, 30*time.Second); err != nil {
			return fmt.Errorf("container iperf3 server: %w", err)
		}
		var out syncBuffer
		c, err := start([]string{"iperf3", "-c", "127.0.0.1", "-p", strconv.Itoa(port), "-t", strconv.Itoa(b.seconds), "-P", strconv.Itoa(b.streams), "-J"}, &out)
		if err != nil {
			return err
		}
		defer c.kill()
		if err := c.wait(time.Duration(b.seconds)*time.Second + time.Minute); err != nil {
			return err
		}
		if gbps, err = iperf3Result(out.Bytes()); err != nil {
			return err
		}
		return s.main.wait(30 * time.Second)
	})
	return sample{Gbps: gbps, RSSMB: rss, CPUMS: cpu}, err
}

func pingPong(b *bench, st stack) (sample, error) {
	var out syncBuffer
	argv := []string{"/bin/pingpong", "-addr", b.echoAddr, "-n", strconv.Itoa(b.pings), "-warmup", strconv.Itoa(pingWarmup)}
	rss, cpu, err := measure(b, st, argv, 0, &out, func(s *session) error {
		return s.main.wait(time.Minute + time.Duration(b.pings)*time.Millisecond)
	})
	if err != nil {
		return sample{}, err
	}
	s := sample{RSSMB: rss, CPUMS: cpu, CPUUS: cpu * 1000 / float64(b.pings+pingWarmup)}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.P50US == 0 {
		return sample{}, fmt.Errorf("pingpong output %q: %v", trim(out.Bytes()), err)
	}
	return s, nil
}

// pingWarmup is the count of unmeasured round trips the pingpong client
// makes first, which the stack's CPU time includes.
const pingWarmup = 200

// measure starts argv on stack st, calls body while sampling the stack's
// memory every 100 ms, and returns its peak resident set in MB and the CPU
// time it used between the first and the last sample, in ms.
func measure(b *bench, st stack, argv []string, publish int, stdout io.Writer, body func(*session) error) (float64, float64, error) {
	s, err := st.start(b, argv, publish, stdout)
	if err != nil {
		return 0, 0, err
	}
	defer s.close()
	done := make(chan struct{})
	type result struct{ kb, ticks int }
	peak := make(chan result)
	go func() {
		kb := 0
		first, last := map[int]int{}, map[int]int{} // CPU ticks by process
		sample := func(pid int) {
			if t, ok := cpuTicks(pid); ok {
				if _, seen := first[pid]; !seen {
					first[pid] = t
				}
				last[pid] = t
			}
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if pid := s.stackPID(); pid > 0 {
				kb = max(kb, statusKB(pid, "VmHWM:")) // VmHWM >= VmRSS
				sample(pid)
			}
			if s.relayPID != nil {
				if pid := s.relayPID(); pid > 0 {
					sample(pid)
				}
			}
			select {
			case <-done:
				ticks := 0
				for pid, t := range last {
					ticks += t - first[pid]
				}
				peak <- result{kb, ticks}
				return
			case <-tick.C:
			}
		}
	}()
	err = body(s)
	close(done)
	r := <-peak
	if err == nil && r.kb == 0 {
		err = errors.New("the network stack process was not found")
	}
	return float64(r.kb) / 1024, float64(r.ticks) * 10, err // USER_HZ is 100
}

// cpuTicks returns the user and system time of process pid in clock ticks
// (utime and stime of /proc/PID/stat, which count its threads).
func cpuTicks(pid int) (int, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.Atoi(f[11])
	st, err2 := strconv.Atoi(f[12])
	return u + st, err1 == nil && err2 == nil
}

// statusKB returns a field of /proc/PID/status in kB (0 when unreadable).
func statusKB(pid int, field string) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb
		}
	}
	return 0
}

// The stacks.

func startRless(b *bench, argv []string, publish int, stdout io.Writer) (*session, error) {
	args := []string{b.rless, "run", "--rootfs", b.rootfs}
	if publish != 0 {
		args = append(args, "-p", fmt.Sprintf("%d:5201", publish))
	}
	p, err := start(append(args, argv...), stdout)
	if err != nil {
		return nil, err
	}
	// rless-netstack and the container's init (which relays the published
	// ports' connections from the host's loopback) are children of rless
	// (of any of its threads), with those argv[0].
	child := func(name string) func() int {
		return func() int {
			var kids []string
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p.cmd.Process.Pid))
			for _, t := range tasks {
				data, _ := os.ReadFile(t)
				kids = append(kids, strings.Fields(string(data))...)
			}
			for _, f := range kids {
				cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
				if arg0, _, _ := bytes.Cut(cmdline, []byte{0}); string(arg0) == name {
					pid, _ := strconv.Atoi(f)
					return pid
				}
			}
			return 0
		}
	}
	return &session{main: p, stackPID: child("rless-netstack"), relayPID: child("rless-init")}, nil
}

// inRootfs, run by sh with $0 the root filesystem, runs "$@" chrooted
// there, with the host's /dev (iperf3 needs /dev/urandom).
const inRootfs = `mount --rbind /dev "$0/dev" && exec chroot "$0" "$@"`

func startPasta(b *bench, argv []string, publish int, stdout io.Writer) (*session, error) {
	fwd := "none"
	if publish != 0 {
		fwd = fmt.Sprintf("%d:5201", publish)
	}
	args := []string{"pasta", "--quiet", "--foreground", "--config-net",
		"-a", "10.0.2.100", "-n", "24", "-g", "10.0.2.2", "--no-map-gw", "--ipv4-only",
		"-t", fwd, "-u", "none", "-T", "none", "-U", "none",
		"--", "unshare", "--mount", "sh", "-c", inRootfs, b.rootfs}
	p, err := start(append(args, argv...), stdout)
	if err != nil {
		return nil, err
	}
	return &session{main: p, stackPID: func() int { return p.cmd.Process.Pid }}, nil
}

func startSlirp4netns(b *bench, argv []string, publish int, stdout io.Writer) (s *session, err error) {
	s = &session{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	ns, err := start([]string{"unshare", "--user", "--map-root-user", "--net", "--mount", "sleep", "inf"}, io.Discard)
	if err != nil {
		return s, err
	}
	s.procs = append(s.procs, ns)
	pid := strconv.Itoa(ns.cmd.Process.Pid)
	// The namespaces are ready when unshare has executed sleep.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline"); string(cmdline) == "sleep\x00inf\x00" {
			break
		}
		if time.Now().After(deadline) || ns.exited() {
			return s, fmt.Errorf("unshare did not start: %s", trim(ns.stderr.Bytes()))
		}
	}
	api := filepath.Join(b.tmp, "slirp4netns.sock")
	os.Remove(api)
	r, w, err := os.Pipe()
	if err != nil {
		return s, err
	}
	defer r.Close()
	slirp := exec.Command("slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
		"--api-socket", api, "--ready-fd=3", pid, "tap0")
	slirp.ExtraFiles = []*os.File{w}
	sp, err := startCmd(slirp, io.Discard)
	w.Close()
	if err != nil {
		return s, err
	}
	s.procs = append(s.procs, sp)
	s.stackPID = func() int { return slirp.Process.Pid }
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(r, make([]byte, 1)); err != nil {
		return s, fmt.Errorf("slirp4netns not ready: %v: %s", err, trim(sp.stderr.Bytes()))
	}
	if publish != 0 {
		if err := slirpAPI(api, fmt.Sprintf(`{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":%d,"guest_port":5201}}`, publish)); err != nil {
			return s, err
		}
	}
	s.main, err = start(append([]string{"nsenter", "--target", pid, "--user", "--net", "--mount", "--preserve-credentials",
		"sh", "-c", inRootfs, b.rootfs}, argv...), stdout)
	return s, err
}

// slirpAPI sends a request to slirp4netns's API socket.
func slirpAPI(sock, req string) error {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	c.(*net.UnixConn).CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil || bytes.Contains(reply, []byte(`"error"`)) {
		return fmt.Errorf("slirp4netns API %s: %q %v", req, reply, err)
	}
	return nil
}

// Processes. Each runs in its own process group, all of which are killed
// on the way out, also when the benchmark is interrupted.

type proc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{}
	err    error
}

var (
	mu       sync.Mutex
	running  = map[*proc]bool{}
	stopping bool // set by killAll: start no more
)

func start(argv []string, stdout io.Writer) (*proc, error) {
	return startCmd(exec.Command(argv[0], argv[1:]...), stdout)
}

func startCmd(cmd *exec.Cmd, stdout io.Writer) (*proc, error) {
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = stdout, &p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	mu.Lock()
	defer mu.Unlock()
	if stopping {
		return nil, errors.New("stopping")
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	running[p] = true
	go func() {
		p.err = cmd.Wait()
		mu.Lock()
		delete(running, p)
		mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for p to exit, successfully, within timeout.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return fmt.Errorf("%s: still running after %v", p, timeout)
	}
	if p.err != nil {
		return fmt.Errorf("%s: %v: %s", p, p.err, trim(p.stderr.Bytes()))
	}
	return nil
}

func (p *proc) String() string { return strings.Join(p.cmd.Args, " ") }

// kill stops p's process group: SIGTERM, then SIGKILL after 5 s.
func (p *proc) kill() {
	if p == nil || p.exited() {
		return
	}
	pg := -p.cmd.Process.Pid
	syscall.Kill(pg, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	syscall.Kill(pg, syscall.SIGKILL)
	<-p.done
}

func stopped() bool {
	mu.Lock()
	defer mu.Unlock()
	return stopping
}

func killAll() {
	mu.Lock()
	stopping = true
	var ps []*proc
	for p := range running {
		ps = append(ps, p)
	}
	mu.Unlock()
	for _, p := range ps {
		p.kill()
	}
}

// syncBuffer is a bytes.Buffer safe for a writing and a reading goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf.Bytes())
}

// watch is a writer that notices when a line containing marker is written.
type watch struct {
	syncBuffer
	marker string
	found  chan struct{}
	once   sync.Once
}

func newWatch(marker string) *watch { return &watch{marker: marker, found: make(chan struct{})} }

func (w *watch) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	select {
	case <-w.found: // already seen: no need to look again
	default:
		if bytes.Contains(w.Bytes(), []byte(w.marker)) {
			w.once.Do(func() { close(w.found) })
		}
	}
	return n, err
}

// wait waits for the marker, failing if p exits first.
func (w *watch) wait(p *proc, timeout time.Duration) error {
	select {
	case <-w.found:
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited (%v): %s%s", p, p.err, trim(w.Bytes()), trim(p.stderr.Bytes()))
	case <-time.After(timeout):
		return fmt.Errorf("%s: no %q after %v", p, w.marker, timeout)
	}
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// Setup.

// freePort returns a TCP port free on addr now.
func freePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// echoServer listens on addr and echoes what each connection sends.
func echoServer(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return l, nil
}

// makeRootfs makes a busybox root filesystem with /usr/bin/iperf3 and the
// libraries ldd lists for it (at the same paths), and pingpong as
// /bin/pingpong.
func makeRootfs(dir, pingpong string) error {
	if err := busybox.Rootfs(dir, nil); err != nil {
		return err
	}
	out, err := exec.Command("ldd", "/usr/bin/iperf3").Output()
	if err != nil {
		return fmt.Errorf("ldd /usr/bin/iperf3: %w", err)
	}
	files := [][2]string{{"/usr/bin/iperf3", "/usr/bin/iperf3"}, {pingpong, "/bin/pingpong"}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)"
		for _, f := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(f, "/") {
				files = append(files, [2]string{f, f})
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f[0])
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, f[1])
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		os.Remove(dst) // busybox may have made it a symlink
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Output.

type targetResult struct {
	What  string   `json:"what"`
	Value *float64 `json:"value"` // nil when not measured
	Limit float64  `json:"limit"`
	Met   *bool    `json:"met"`
}

// ratio is rless's median over a baseline stack's (base) in a test.
type ratio struct {
	base, test string
	Name       string  `json:"name"`
	Ratio      float64 `json:"ratio"`
}

type fullReport struct {
	Time    time.Time      `json:"time"`
	Host    string         `json:"host"`
	Seconds int            `json:"iperf3_seconds"`
	Streams int            `json:"iperf3_streams"`
	Runs    int            `json:"runs"`
	Skipped []string       `json:"skipped,omitempty"`
	Cases   []*result      `json:"cases"`
	Ratios  []ratio        `json:"ratios"`
	Targets []targetResult `json:"targets"`
}

func report(w io.Writer, results []*result) fullReport {
	rep := fullReport{Cases: results}
	get := func(name string) *result {
		for _, r := range results {
			if r.Name == name && r.Error == "" {
				return r
			}
		}
		return nil
	}
	fmt.Fprintf(w, "\n%-22s  %4s  %8s  %8s  %8s  %8s  %8s  %8s\n", "case", "runs", "Gbit/s", "RSS MB", "p50 µs", "p99 µs", "mean µs", "CPU")
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(w, "%-22s  failed: %s\n", r.Name, benchio.FirstLine(r.Error))
			continue
		}
		m := r.Median
		cpu := fmt.Sprintf("%.0f ms", m.CPUMS)
		if m.CPUUS != 0 {
			cpu = fmt.Sprintf("%.0f µs/rt", m.CPUUS)
		}
		fmt.Fprintf(w, "%-22s  %4d  %8s  %8.1f  %8s  %8s  %8s  %8s\n", r.Name, len(r.Samples),
			num(m.Gbps), r.MaxRSS, num(m.P50US), num(m.P99US), num(m.MeanUS), cpu)
	}
	fmt.Fprintln(w, "(medians; RSS MB: the highest peak resident set of the network stack process over the runs;")
	fmt.Fprintln(w, " CPU: the user and system time of the stack process, and for rless of the container's init, which")
	fmt.Fprintln(w, " relays the published port, while the case ran; per round trip for ping-pong)")
	fmt.Fprintln(w)
	for _, base := range []string{"slirp4netns", "pasta"} {
		for _, t := range tests {
			r, b := get("rless "+t.name), get(base+" "+t.name)
			if r == nil || b == nil {
				continue
			}
			q, what := r.Median.Gbps/b.Median.Gbps, "throughput (higher: rless better)"
			if t.name == "ping-pong" {
				q, what = r.Median.P50US/b.Median.P50US, "p50 latency (lower: rless better)"
			}
			name := fmt.Sprintf("rless/%s %s %s", base, t.name, what)
			rep.Ratios = append(rep.Ratios, ratio{base: base, test: t.name, Name: name, Ratio: q})
			fmt.Fprintf(w, "%-70s %.2f\n", name, q)
		}
	}
	fmt.Fprintln(w)
	check := func(what string, value *float64, limit float64, ok func(v float64) bool) {
		t := targetResult{What: what, Value: value, Limit: limit}
		if value == nil {
			fmt.Fprintf(w, "target %s: NOT MEASURED\n", what)
		} else {
			met := ok(*value)
			t.Met = &met
			verdict := "PASS"
			if !met {
				verdict = "FAIL"
			}
			fmt.Fprintf(w, "target %s: %s (%.2f)\n", what, verdict, *value)
		}
		rep.Targets = append(rep.Targets, t)
	}
	for _, t := range []string{"upload", "published"} {
		var v *float64
		if i := slices.IndexFunc(rep.Ratios, func(q ratio) bool { return q.base == "slirp4netns" && q.test == t }); i >= 0 {
			q := rep.Ratios[i].Ratio
			v = &q
		}
		check("rless/slirp4netns "+t+" throughput >= 1", v, 1, func(v float64) bool { return v >= 1 })
	}
	var peak *float64
	for _, t := range []string{"upload", "published"} {
		if r := get("rless " + t); r != nil {
			p := r.MaxRSS
			if peak != nil {
				p = max(p, *peak)
			}
			peak = &p
		}
	}
	check("rless-netstack peak RSS under iperf3 load < 30 MB", peak, 30, func(v float64) bool { return v < 30 })
	return rep
}

func num(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
