package slirp

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rless/rless/internal/testenv"
	"github.com/rless/rless/pkg/network"
	"golang.org/x/sys/unix"
)

// childEnv marks the re-executed test binary that plays the container.
const childEnv = "RLESS_SLIRP_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// childSpec tells the child which checks to run inside the namespace.
type childSpec struct {
	Cfg         network.Config
	HTTPURL     string      // GET must succeed ("" skips)
	LoopbackURL string      // GET via the gateway
	LoopbackOK  bool        // whether LoopbackURL must succeed
	UDPEcho     string      // host UDP echo server ("" skips)
	DNSName     string      // name to resolve through the DNS address
	DNSWant     string      // address it must resolve to
	ServePort   int         // TCP and UDP echo servers to run in the namespace (0: none)
	Command     []string    // run last, its output on stderr
	Egress      *egressSpec // allow-list checks, once the parent says go (see egressChecks)
}

// runChild runs in the new user and network namespaces. It creates the tap,
// sends it to the parent over fd 3, runs the checks and reports over fd 3.
func runChild(specJSON string) int {
	sock := os.NewFile(3, "parent")
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		sock.Write([]byte("ERR spec: " + err.Error()))
		return 1
	}
	runtime.LockOSThread()
	tap, err := network.CreateTap("tap0", spec.Cfg)
	if err != nil {
		sock.Write([]byte("ERR " + err.Error()))
		return 1
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte("TAP"), unix.UnixRights(int(tap.Fd())), nil, 0); err != nil {
		return 1
	}
	tap.Close()
	var fails []string
	check := func(what string, err error) {
		if err != nil {
			fails = append(fails, fmt.Sprintf("%s: %v", what, err))
		}
	}
	if spec.ServePort != 0 {
		check("serve", serveEcho(spec.ServePort))
	}
	if spec.HTTPURL != "" {
		check("GET "+spec.HTTPURL, httpGet(spec.HTTPURL))
	}
	if spec.LoopbackURL != "" {
		err = httpGet(spec.LoopbackURL)
		if spec.LoopbackOK {
			check("GET "+spec.LoopbackURL, err)
		} else if err == nil {
			check("GET "+spec.LoopbackURL, errors.New("host loopback reachable without allow_host_loopback"))
		}
	}
	if spec.UDPEcho != "" {
		check("UDP echo "+spec.UDPEcho, udpEcho(spec.UDPEcho))
	}
	if spec.DNSName != "" {
		check("DNS "+spec.DNSName, lookup(spec.Cfg.DNSAddr(), spec.DNSName, spec.DNSWant))
	}
	if spec.Egress != nil {
		fails = append(fails, egressChecks(sock, spec.Cfg, *spec.Egress)...)
	}
	if len(spec.Command) > 0 {
		cmd := exec.Command(spec.Command[0], spec.Command[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		check(strings.Join(spec.Command, " "), cmd.Run())
	}
	result := "OK"
	if len(fails) > 0 {
		result = "FAIL " + strings.Join(fails, "; ")
	}
	sock.Write([]byte(result))
	sock.Read(make([]byte, 16)) // wait until the parent is done with us
	return 0
}

// httpGet GETs url and checks that the host's page came back.
func httpGet(url string) error { return httpGetHost(url, "") }

func udpEcho(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 16)
	k, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:k]) != "ping" {
		return fmt.Errorf("echo %q", buf[:k])
	}
	return nil
}

func lookup(server netip.Addr, name, want string) error {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(server.String(), "53"))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, name)
	if err != nil {
		return err
	}
	if len(addrs) != 1 || addrs[0] != want {
		return fmt.Errorf("got %v, want %s", addrs, want)
	}
	return nil
}

// serveEcho runs TCP and UDP echo servers on port in the background.
func serveEcho(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	pc, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	go echoPackets(pc)
	return nil
}

// echoPackets sends every datagram pc receives back to its sender, until
// pc is closed.
func echoPackets(pc net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(buf[:k], from)
	}
}

// startNetwork starts the container stand-in and the network for its tap,
// on ctx and publishing l's ports, and waits for the stand-in's result.
// The network is closed when the test ends, if not before.
func startNetwork(t testing.TB, ctx context.Context, spec childSpec, l *network.Listeners) (*child, *Network) {
	t.Helper()
	c, tap := startChild(t, spec)
	n, err := Start(ctx, tap, spec.Cfg, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	c.result(t)
	return c, n
}

// child is the running container stand-in.
type child struct {
	cmd  *exec.Cmd
	sock *os.File
}

// startChild starts the test binary in new user and network namespaces and
// returns it with the tap it created. It skips the test when the machine
// cannot run it.
func startChild(t testing.TB, spec childSpec) (*child, *os.File) {
	t.Helper()
	if fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		testenv.SkipWithout(t, fmt.Sprintf("/dev/net/tun is not openable (%v); it needs mode 0666 to test rootless networking", err))
	} else {
		unix.Close(fd)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "child"), os.NewFile(uintptr(fds[1]), "parent")
	defer theirs.Close()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		mine.Close()
		t.Skipf("slirp: cannot create user and network namespaces: %v", err)
	}
	c := &child{cmd: cmd, sock: mine}
	t.Cleanup(func() {
		c.sock.Close()
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	k, oobn, _, _, err := unix.Recvmsg(int(mine.Fd()), buf, oob, 0)
	if err != nil {
		t.Fatalf("receive tap: %v", err)
	}
	if msg := string(buf[:k]); msg != "TAP" {
		t.Fatalf("child: %s", msg)
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cmsgs) != 1 {
		t.Fatalf("receive tap: control message: %v", err)
	}
	rights, err := unix.ParseUnixRights(&cmsgs[0])
	if err != nil || len(rights) != 1 {
		t.Fatalf("receive tap: rights: %v", err)
	}
	return c, os.NewFile(uintptr(rights[0]), "tap")
}

// result waits for the child's checks and fails the test on any.
func (c *child) result(t testing.TB) {
	t.Helper()
	buf := make([]byte, 64<<10)
	k, err := c.sock.Read(buf)
	if err != nil {
		t.Fatalf("child result: %v", err)
	}
	if msg := string(buf[:k]); msg != "OK" {
		t.Errorf("child: %s", msg)
	}
}

// finish lets the child exit.
func (c *child) finish(t testing.TB) {
	c.sock.Write([]byte("done"))
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
}

// hostServers starts the servers the child reaches: HTTP on a host address
// and on 127.0.0.1, UDP echo, and a DNS server on 127.0.0.1. It fills spec.
func hostServers(t *testing.T, spec *childSpec) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello from the host") })
	serve := func(ip string) string {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: hello}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		return l.Addr().String()
	}
	lo := serve("127.0.0.1")
	_, port, _ := net.SplitHostPort(lo)
	spec.LoopbackURL = "http://" + net.JoinHostPort(spec.Cfg.Gateway().String(), port) + "/"
	if ip, ok := network.HostAddress(); ok {
		spec.HTTPURL = "http://" + serve(ip.String()) + "/"
		pc, err := net.ListenPacket("udp", ip.String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go echoPackets(pc)
		spec.UDPEcho = pc.LocalAddr().String()
	} else {
		t.Log("no non-loopback IPv4 address on this host: skipping the HTTP and UDP checks to it")
	}
	dnsAddr := serveDNS(t, "test.rless.", [4]byte{192, 0, 2, 55})
	spec.Cfg.DNS = []string{"127.0.0.1:1", dnsAddr} // the first one does not answer
	spec.DNSName, spec.DNSWant = "test.rless", "192.0.2.55"
}

// serveDNS runs a minimal DNS server on 127.0.0.1 that answers A queries for
// name with ip and everything else with no records.
func serveDNS(t *testing.T, name string, ip [4]byte) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var qname []byte
	for l := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		qname = append(append(qname, byte(len(l))), l...)
	}
	qname = append(qname, 0)
	go func() {
		buf := make([]byte, 512)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:k]
			if k < 12+len(qname)+4 {
				continue
			}
			question := q[12 : 12+len(qname)+4]
			resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, question...)
			qtype := binary.BigEndian.Uint16(question[len(qname):])
			if strings.EqualFold(string(question[:len(qname)]), string(qname)) && qtype == 1 {
				resp[7] = 1
				resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
				resp = append(resp, ip[:]...)
			}
			pc.WriteTo(resp, from)
		}
	}()
	return pc.LocalAddr().String()
}

// settle waits until the goroutine count is back to at most base.
func settle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left after Close, want <= %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNetwork(t *testing.T) {
	spec := childSpec{Cfg: network.DefaultConfig(), ServePort: 8080}
	hostServers(t, &spec)
	ports, err := network.ParsePublish("127.0.0.1::8080/tcp")
	if err != nil {
		t.Fatal(err)
	}
	udpPorts, _ := network.ParsePublish("127.0.0.1::8080/udp")
	opened, err := network.Listen(append(ports, udpPorts...))
	if err != nil {
		t.Fatal(err)
	}
	// The sockets go to the stack as to another process: as descriptors.
	pub := opened.Ports()
	files, err := opened.Files()
	opened.Close()
	if err != nil {
		t.Fatal(err)
	}
	l, err := network.FromFiles(pub, files)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() }) // in case Start is not reached
	tcpAddr := netip.AddrPortFrom(pub[0].HostIP, pub[0].HostPort).String()
	udpAddr := netip.AddrPortFrom(pub[1].HostIP, pub[1].HostPort).String()

	base := runtime.NumGoroutine()
	c, n := startNetwork(t, context.Background(), spec, l)

	// 50 parallel connections to the published port, each echoed back.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			conn, err := net.DialTimeout("tcp", tcpAddr, 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			msg := fmt.Sprintf("hello %d\n", i)
			if _, err := conn.Write([]byte(msg)); err != nil {
				errs <- err
				return
			}
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil || line != msg {
				errs <- fmt.Errorf("conn %d: got %q, %v", i, line, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("published TCP port %s: %v", tcpAddr, err)
	}
	if err := udpEcho(udpAddr); err != nil {
		t.Errorf("published UDP port %s: %v", udpAddr, err)
	}

	c.finish(t)
	if err := n.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	settle(t, base)
	for _, a := range [][2]string{{"tcp", tcpAddr}, {"udp", udpAddr}} {
		var err error
		if a[0] == "tcp" {
			var l net.Listener
			if l, err = net.Listen("tcp", a[1]); err == nil {
				l.Close()
			}
		} else {
			var pc net.PacketConn
			if pc, err = net.ListenPacket("udp", a[1]); err == nil {
				pc.Close()
			}
		}
		if err != nil {
			t.Errorf("published port %s/%s still taken after Close: %v", a[1], a[0], err)
		}
	}
}

func TestAllowHostLoopback(t *testing.T) {
	spec := childSpec{Cfg: network.DefaultConfig(), LoopbackOK: true}
	spec.Cfg.AllowHostLoopback = true
	spec.Cfg.CIDR = netip.MustParsePrefix("10.9.8.0/24")
	hostServers(t, &spec)
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, _ := startNetwork(t, ctx, spec, nil)
	c.finish(t)
	cancel() // closes the network
	settle(t, base)
}
