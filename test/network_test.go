package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rless/rless/internal/testenv"
	"github.com/rless/rless/pkg/network"
)

// hostAddr returns a non-loopback IPv4 address of this host: servers the
// tests run there are reachable from a container only through its network.
func hostAddr(t *testing.T) netip.Addr {
	t.Helper()
	addr, ok := network.HostAddress()
	if !ok {
		t.Skip("this host has no IPv4 address but loopback")
	}
	return addr
}

// serveHTTP serves body on addr ("IP:0") until the test ends and returns
// its address.
func serveHTTP(t *testing.T, addr, body string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// serveUDPEcho echoes datagrams on addr until the test ends.
func serveUDPEcho(t *testing.T, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().String()
}

// TestNetworkSlirp: the default network reaches what the host reaches, by
// TCP and UDP, resolves names through 10.0.2.3, and reaches the host's
// loopback only when asked to.
func TestNetworkSlirp(t *testing.T) {
	host := hostAddr(t)
	before := takeSnapshot(t)
	web := serveHTTP(t, host.String()+":0", "page on the host\n")
	loop := serveHTTP(t, "127.0.0.1:0", "page on loopback\n")
	_, loopPort, _ := net.SplitHostPort(loop)
	echo := serveUDPEcho(t, host.String()+":0")

	script := fmt.Sprintf(`ip -o -4 addr show tap0 | awk '{print $4}'; ip route | grep default; wget -q -O- http://%s/; probe udp %s hello; `+
		`wget -q -T 3 -O- http://10.0.2.2:%s/ 2>/dev/null || echo no loopback`, web, echo, loopPort)
	out := mustRun(t, nil, "sh", "-c", script)
	want := "10.0.2.100/24\ndefault via 10.0.2.2 dev tap0 \npage on the host\necho hello\nno loopback\n"
	if out != want {
		t.Errorf("default network: got\n%s\nwant\n%s", out, want)
	}
	// The root directory's /etc/hosts and /etc/resolv.conf are covered by
	// the network's; its missing /etc/hostname is not made.
	// (The host's resolvers follow the stack's, as podman lists them.)
	out = mustRun(t, []string{"--hostname", "box"}, "sh", "-c", "grep nameserver /etc/resolv.conf | head -n1; grep box /etc/hosts; test -e /etc/hostname || echo no hostname file")
	if want := "nameserver 10.0.2.3\n10.0.2.100\tbox\nno hostname file\n"; out != want {
		t.Errorf("--rootfs /etc files: got\n%s\nwant\n%s", out, want)
	}
	out = mustRun(t, []string{"--network", "slirp:allow_host_loopback=true,mtu=1500,cidr=10.9.0.0/24"}, "sh", "-c",
		fmt.Sprintf("ip -o link show tap0 | grep -o 'mtu [0-9]*'; ip -o -4 addr show tap0 | awk '{print $4}'; wget -q -O- http://10.9.0.2:%s/", loopPort))
	if want := "mtu 1500\n10.9.0.100/24\npage on loopback\n"; out != want {
		t.Errorf("allow_host_loopback, mtu, cidr: got\n%s\nwant\n%s", out, want)
	}
	// A name the host resolves through its resolvers resolves the same
	// through the stack's forwarder.
	name, addrs := hostResolves(t)
	if name != "" {
		out := mustRun(t, nil, "nslookup", name, "10.0.2.3")
		if !strings.Contains(out, addrs[0]) {
			t.Errorf("nslookup %s through 10.0.2.3: got\n%s\nwant %v", name, out, addrs)
		}
	}
	for _, bad := range []string{"slirp:mtu=70000", "slirp:bogus=1", "slirp:cidr=x", "none:x", "bogus"} {
		r := runIn(t, []string{"--network", bad}, "true")
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("--network %s: exit %d %q", bad, r.code, r.stderr)
		}
	}
	assertClean(t, before)
}

// hostResolves returns a name the host's own resolvers (those of
// /etc/resolv.conf) resolve, and its addresses, or "" when they resolve
// none of the names tried (a host without DNS).
func hostResolves(t *testing.T) (string, []string) {
	names := []string{"proxy.golang.org", "deb.debian.org"}
	if p := os.Getenv("GOPROXY"); strings.HasPrefix(p, "http") {
		if u := strings.SplitN(strings.SplitN(p, "://", 2)[1], "/", 2)[0]; u != "" {
			names = append([]string{strings.Split(u, ":")[0]}, names...)
		}
	}
	r := &net.Resolver{PreferGo: true}
	for _, n := range names {
		if net.ParseIP(n) != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		addrs, err := r.LookupHost(ctx, n)
		cancel()
		if err == nil && len(addrs) > 0 {
			return n, addrs
		}
	}
	t.Log("the host's resolvers resolve none of", names, "(no DNS here): DNS forwarding is left to pkg/slirp's tests")
	return "", nil
}

// TestPublish: -p publishes a port of the container on the host, for many
// connections at once, and frees it when the container ends; a port taken
// on the host fails the run before the command starts.
func TestPublish(t *testing.T) {
	before := takeSnapshot(t)
	port := freePort(t)
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("served from the container\n"), 0o644)
	os.Chmod(www, 0o755)
	cmd := rlessCmd("run", "-p", fmt.Sprintf("%d:80", port), "-v", www+":/www:ro", "--rootfs", rootfs, "httpd", "-f", "-p", "80", "-h", "/www")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stop := startBackground(t, cmd)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if body := getOnceServed(url); body != "served from the container\n" {
		t.Fatalf("GET %s: %q (rless: %s)", url, body, stderr.String())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if get(url) != "served from the container\n" {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		t.Errorf("%d of 50 parallel connections failed", failed)
	}
	r := run(t, "port", "--all")
	if want := fmt.Sprintf("80/tcp -> 0.0.0.0:%d", port); !strings.Contains(r.stdout, want) {
		t.Errorf("port --all: %q, want %q", r.stdout, want)
	}
	// The port is taken now: a second container cannot have it, and its
	// command never runs.
	out := t.TempDir()
	os.Chmod(out, 0o777)
	r = runIn(t, []string{"-p", fmt.Sprintf("%d:80", port), "-v", out + ":/out"}, "touch", "/out/ran")
	if want := fmt.Sprintf("publish 0.0.0.0:%d/tcp: address already in use", port); r.code != 125 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("a taken port: exit %d %q, want 125 and %q", r.code, r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(out, "ran")); err == nil {
		t.Error("the command of a container whose port was taken ran")
	}
	stop()
	// Free again.
	if l, err := net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
		t.Errorf("port %d after the container: %v", port, err)
	} else {
		l.Close()
	}
	assertClean(t, before)
}

// startBackground starts cmd (a rless run) and returns a function that
// stops it with SIGTERM and waits for it; the test's clean-up calls it too,
// if the test did not.
func startBackground(t *testing.T, cmd *exec.Cmd) (stop func()) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = sync.OnceFunc(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	t.Cleanup(stop)
	return stop
}

// getOnceServed returns the body of url once something serves it there,
// or "" after 5 s of nothing.
func getOnceServed(url string) string {
	body := ""
	for i := 0; i < 100 && body == ""; i++ {
		if body = get(url); body == "" {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return body
}

// publishedPorts returns what rless port --all prints once it lists n
// ports, or what it printed last after 5 s.
func publishedPorts(t *testing.T, n int) string {
	var out string
	for i := 0; i < 100; i++ {
		if out = run(t, "port", "--all").stdout; strings.Count(out, "\n") == n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return out
}

func get(url string) string {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// freePort returns a TCP port that is free on the host now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestPublishUDP: a UDP port and a range, through the published ports:
// datagrams sent to each host port reach the container's server on its
// port, and its answers come back.
func TestPublishUDP(t *testing.T) {
	before := takeSnapshot(t)
	port := freePort(t)
	cmd := rlessCmd("run", "-p", fmt.Sprintf("127.0.0.1:%d-%d:7000-7001/udp", port, port+1), "--rootfs", rootfs,
		"probe", "udpecho", "7000", "7001")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stop := startBackground(t, cmd)
	out := publishedPorts(t, 2)
	for _, want := range []string{fmt.Sprintf("7000/udp -> 127.0.0.1:%d", port), fmt.Sprintf("7001/udp -> 127.0.0.1:%d", port+1)} {
		if !strings.Contains(out, want) {
			t.Errorf("port: %q, want %q", out, want)
		}
	}
	for _, p := range []int{port, port + 1} {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		msg := fmt.Sprintf("hello %d", p)
		if got, err := udpExchange(addr, msg); err != nil || got != "echo "+msg {
			t.Errorf("UDP to %s: %q %v, want %q (rless: %s)", addr, got, err, "echo "+msg, stderr.String())
		}
	}
	stop()
	assertClean(t, before)
}

// udpExchange sends msg to the UDP address addr and returns the answer. It
// tries up to 20 times, each from a new socket and waiting 250 ms for the
// answer, while the server may still be starting.
func udpExchange(addr, msg string) (string, error) {
	var err error
	for i := 0; i < 20; i++ {
		var c net.Conn
		if c, err = net.Dial("udp", addr); err != nil {
			return "", err
		}
		c.SetDeadline(time.Now().Add(250 * time.Millisecond))
		buf := make([]byte, 1500)
		n := 0
		if _, err = c.Write([]byte(msg)); err == nil {
			n, err = c.Read(buf)
		}
		c.Close()
		if err == nil {
			return string(buf[:n]), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", err
}

// TestNetworkModes: none has only loopback, host sees the host's
// interfaces.
func TestNetworkModes(t *testing.T) {
	ifaces, _ := net.Interfaces()
	out := mustRun(t, []string{"--network", "host"}, "ip", "-o", "link")
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != len(ifaces) {
		t.Errorf("--network host: %d interfaces, the host has %d:\n%s", n, len(ifaces), out)
	}
	out = mustRun(t, []string{"--network", "none"}, "ip", "-o", "link")
	if strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "lo:") {
		t.Errorf("--network none:\n%s", out)
	}
	r := run(t, "info", "--format", "{{.Network}}")
	if !strings.Contains(r.stdout, "slirp") || !strings.Contains(r.stdout, "none") || !strings.Contains(r.stdout, "host") {
		t.Errorf("info network modes: %q", r.stdout)
	}
}

// TestNetworkEtc: a container of an image gets /etc/resolv.conf and
// /etc/hosts for its network, with --dns, --dns-search and --add-host; -P
// publishes the image's exposed ports.
func TestNetworkEtc(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	r := mustImg(t, root, "run", "--rm", "--hostname", "box", "alpine", "sh", "-c", "grep nameserver /etc/resolv.conf | head -n1; grep box /etc/hosts; grep host.containers.internal /etc/hosts")
	if want := "nameserver 10.0.2.3\n10.0.2.100\tbox\n"; !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, "host.containers.internal") {
		t.Errorf("slirp's files: got\n%s\nwant %q and host.containers.internal", r.stdout, want)
	}
	r = mustImg(t, root, "run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.org", "--add-host", "db:192.0.2.7",
		"--network", "slirp:allow_host_loopback=true", "alpine", "sh", "-c", "grep -v '^#' /etc/resolv.conf | grep -v options; grep -v localhost /etc/hosts")
	for _, want := range []string{"search example.org\nnameserver 192.0.2.53\n", "192.0.2.7\tdb\n", "10.0.2.2\thost.containers.internal"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--dns, --dns-search, --add-host: got\n%s\nwant %q", r.stdout, want)
		}
	}
	if r := rlessImg(t, root, "run", "--rm", "--add-host", "nocolon", "alpine", "true"); r.code != 125 || !strings.Contains(r.stderr, "NAME:IP") {
		t.Errorf("--add-host without an address: exit %d %s", r.code, r.stderr)
	}
	// -P: the shared image exposes 8080/tcp and 53/udp.
	ref := regAddr + "/" + sharedRef
	mustImg(t, root, "pull", "-q", ref)
	startBackground(t, imgCmd(root, "run", "-P", ref, "sleep", "30"))
	if out := publishedPorts(t, 2); !strings.Contains(out, "8080/tcp -> 0.0.0.0:") || !strings.Contains(out, "53/udp -> 0.0.0.0:") {
		t.Errorf("-P: port --all:\n%s", out)
	}
}

// TestNetworkExternal: --network slirp4netns and pasta, when installed,
// connect the container and publish its ports. Where the harness promises
// them (testenv.ExpectDeps), they must be installed.
func TestNetworkExternal(t *testing.T) {
	host := hostAddr(t)
	web := serveHTTP(t, host.String()+":0", "page on the host\n")
	loop := serveHTTP(t, "127.0.0.1:0", "page on loopback\n")
	_, loopPort, _ := net.SplitHostPort(loop)
	www := t.TempDir()
	os.WriteFile(filepath.Join(www, "index.html"), []byte("served from the container\n"), 0o644)
	os.Chmod(www, 0o755)
	for _, tc := range []struct {
		mode, loopbackOpts, gateway string
	}{
		{"slirp4netns", "slirp4netns:allow_host_loopback=true", "10.0.2.2"},
		{"pasta", "pasta:--map-gw", ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			if _, err := exec.LookPath(tc.mode); err != nil {
				testenv.SkipWithout(t, tc.mode+" is not installed")
			}
			before := takeSnapshot(t)
			gw := tc.gateway
			if gw == "" { // pasta: the host's own gateway
				out := mustRun(t, []string{"--network", tc.mode}, "sh", "-c", "ip route | awk '/^default/ {print $3}'")
				gw = strings.TrimSpace(out)
			}
			if tc.mode == "pasta" {
				// pasta's own forwarding options, in its long and joined
				// forms: rless adds no conflicting "none" of that kind.
				for _, o := range []string{fmt.Sprintf("--tcp-ports=%d:80", freePort(t)), fmt.Sprintf("-t%d:80", freePort(t)), "--udp-ns=none"} {
					mustRun(t, []string{"--network", "pasta:" + o}, "true")
				}
			}
			if tc.mode == "slirp4netns" {
				out := mustRun(t, []string{"--network", tc.mode}, "wget", "-q", "-O-", "http://"+web+"/")
				if out != "page on the host\n" {
					t.Errorf("%s: GET from the host: %q", tc.mode, out)
				}
			}
			probe := fmt.Sprintf("probe get http://%s:%s/ 2>/dev/null || echo no loopback", gw, loopPort)
			if out := mustRun(t, []string{"--network", tc.mode}, "sh", "-c", probe); out != "no loopback\n" {
				t.Errorf("%s: the host's loopback reached by default: %q", tc.mode, out)
			}
			if out := mustRun(t, []string{"--network", tc.loopbackOpts}, "sh", "-c", probe); out != "page on loopback\n" {
				t.Errorf("%s: the host's loopback with %s: %q", tc.mode, tc.loopbackOpts, out)
			}
			port := freePort(t)
			cmd := rlessCmd("run", "--network", tc.mode, "-p", fmt.Sprintf("%d:80", port), "-v", www+":/www:ro", "--rootfs", rootfs, "httpd", "-f", "-p", "80", "-h", "/www")
			stop := startBackground(t, cmd)
			if body := getOnceServed(fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "served from the container\n" {
				t.Errorf("%s: published port: %q", tc.mode, body)
			}
			stop()
			assertClean(t, before)
		})
	}
}
