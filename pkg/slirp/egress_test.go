package slirp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rless/rless/internal/testenv"
	"github.com/rless/rless/pkg/network"
	"golang.org/x/net/dns/dnsmessage"
)

// egressSpec is what the container stand-in checks of an allow-list
// (childSpec.Egress).
type egressSpec struct {
	Allowed   string // a name allowed, resolving to AllowedIP
	AllowedIP string
	Other     string // a name not allowed (the DNS server knows it)
	Rebind    string // a name allowed, resolving to the private RebindIP
	RebindIP  string
	HTTPPort  int      // HTTP on AllowedIP, allowed by name
	TLSPort   int      // HTTPS on AllowedIP, allowed by name
	UDPPort   int      // UDP echo on AllowedIP, allowed by name
	Literal   string   // an HTTP server's address, allowed by an IP entry
	Refused   []string // TCP addresses to be refused
	RefusedUD string   // a UDP address to be refused
}

// egressChecks runs in the container stand-in once the parent says go
// (over sock): the network has then started and knows the stand-in's pid.
func egressChecks(sock *os.File, cfg network.Config, s egressSpec) []string {
	sock.Read(make([]byte, 16))
	var fails []string
	check := func(what string, err error) {
		if err != nil {
			fails = append(fails, fmt.Sprintf("%s: %v", what, err))
		}
	}
	for _, tcp := range []bool{false, true} {
		via := map[bool]string{false: "UDP", true: "TCP"}[tcp]
		addrs, err := resolve(cfg.DNSAddr(), s.Allowed, tcp)
		if err == nil && (len(addrs) != 1 || addrs[0] != s.AllowedIP) {
			err = fmt.Errorf("got %v, want %s", addrs, s.AllowedIP)
		}
		check("resolve "+s.Allowed+" over "+via, err)
		addrs, err = resolve(cfg.DNSAddr(), s.Other, tcp)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			check("resolve "+s.Other+" over "+via, fmt.Errorf("got %v, %v; want NXDOMAIN", addrs, err))
		}
	}
	addrs, err := resolve(cfg.DNSAddr(), s.Rebind, false)
	if err == nil && (len(addrs) != 1 || addrs[0] != s.RebindIP) {
		err = fmt.Errorf("got %v, want %s", addrs, s.RebindIP)
	}
	check("resolve "+s.Rebind, err)

	httpURL := fmt.Sprintf("http://%s/", net.JoinHostPort(s.AllowedIP, strconv.Itoa(s.HTTPPort)))
	check("GET "+httpURL+" as "+s.Allowed, httpGetHost(httpURL, s.Allowed))
	if err := httpGetHost(httpURL, s.Other); err == nil {
		check("GET "+httpURL+" as "+s.Other, errors.New("not cut (Host not checked)"))
	}
	check("GET http://"+s.Literal+"/ (IP entry) as "+s.Other, httpGetHost("http://"+s.Literal+"/", s.Other))

	tlsAddr := net.JoinHostPort(s.AllowedIP, strconv.Itoa(s.TLSPort))
	check("TLS to "+tlsAddr+" as "+s.Allowed, tlsHandshake(tlsAddr, s.Allowed))
	if err := tlsHandshake(tlsAddr, s.Other); err == nil {
		check("TLS to "+tlsAddr+" as "+s.Other, errors.New("not cut (SNI not checked)"))
	}
	check("UDP echo "+s.AllowedIP, udpEcho(net.JoinHostPort(s.AllowedIP, strconv.Itoa(s.UDPPort))))

	refused := append(s.Refused, net.JoinHostPort(s.RebindIP, "80"))
	for _, a := range refused {
		c, err := net.DialTimeout("tcp", a, 10*time.Second)
		if err == nil {
			c.Close()
			check("connect "+a, errors.New("not refused"))
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			check("connect "+a, fmt.Errorf("%w, want connection refused", err))
		}
	}
	check("UDP to "+s.RefusedUD, udpRefused(s.RefusedUD))
	return fails
}

// resolve looks name up through the DNS address, over UDP or TCP.
func resolve(server netip.Addr, name string, tcp bool) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		if tcp {
			network = "tcp"
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(server.String(), "53"))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.LookupHost(ctx, name)
}

// httpGetHost GETs url with host as the request's Host (the URL's when
// empty) and checks that the host's page came back.
func httpGetHost(url, host string) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Host = host
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if string(body) != "hello from the host" {
		return fmt.Errorf("body %q", body)
	}
	return nil
}

func tlsHandshake(addr, serverName string) error {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	return c.Close()
}

// udpRefused sends a datagram to addr and expects port unreachable.
func udpRefused(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("ping"))
	_, err = c.Read(make([]byte, 16))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("read: %v, want connection refused", err)
	}
	return nil
}

// serveZone runs a DNS server on 127.0.0.1, over UDP and TCP on the same
// port, answering A queries for the names of zone with their address,
// other types of them with no records, and other names with NXDOMAIN. It
// returns its address and counts the queries per name.
func serveZone(t *testing.T, zone map[string]string) (string, func(name string) int) {
	var mu sync.Mutex
	asked := map[string]int{}
	answer := func(query []byte) []byte {
		var p dnsmessage.Parser
		h, err := p.Start(query)
		if err != nil {
			return nil
		}
		q, err := p.Question()
		if err != nil {
			return nil
		}
		name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
		mu.Lock()
		asked[name]++
		mu.Unlock()
		ip, ok := zone[name]
		rh := dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
		if !ok {
			rh.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, rh)
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		if ok && q.Type == dnsmessage.TypeA {
			b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()})
		}
		msg, _ := b.Finish()
		return msg
	}
	var pc net.PacketConn
	var l net.Listener
	for range 20 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if l == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	t.Cleanup(func() { pc.Close(); l.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if msg := answer(buf[:k]); msg != nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					q, err := readFramed(c)
					if err != nil {
						return
					}
					if msg := answer(q); msg == nil || func() error { _, err := c.Write(framed(msg)); return err }() != nil {
						return
					}
				}
			}()
		}
	}()
	return pc.LocalAddr().String(), func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return asked[name]
	}
}

// TestEgress runs a container stand-in under an allow-list and checks
// what it may reach, what not, and the log of refusals.
func TestEgress(t *testing.T) {
	testenv.NeedEgressAddrs(t)
	allowedIP, otherIP := testenv.EgressAddrs[0], testenv.EgressAddrs[1]

	// Servers: HTTP, HTTPS and UDP echo on the address of the allowed
	// name; two HTTP servers on the other address, one allowed by an IP
	// entry; HTTP on the host's loopback.
	var hostsMu sync.Mutex
	hosts := map[string]int{} // Host headers seen
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hostsMu.Lock()
		hosts[r.Host]++
		hostsMu.Unlock()
		io.WriteString(w, "hello from the host")
	})
	listen := func(ip string) net.Listener {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	serve := func(ip string) net.Addr {
		l := listen(ip)
		srv := &http.Server{Handler: hello}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		return l.Addr()
	}
	httpAddr := serve(allowedIP)
	literal := serve(otherIP)
	notAllowed := serve(otherIP)
	loopback := serve("127.0.0.1")
	var snisMu sync.Mutex
	snis := map[string]int{} // TLS server names seen
	ts := httptest.NewUnstartedServer(hello)
	ts.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the handshakes cut
	ts.Listener.Close()
	ts.Listener = listen(allowedIP)
	ts.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		snisMu.Lock()
		snis[h.ServerName]++
		snisMu.Unlock()
		return nil, nil
	}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pc, err := net.ListenPacket("udp", net.JoinHostPort(allowedIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go echoPackets(pc)
	port := func(a net.Addr) int {
		_, p, _ := net.SplitHostPort(a.String())
		n, _ := strconv.Atoi(p)
		return n
	}
	const rebindIP = "10.9.9.9"
	dnsAddr, asked := serveZone(t, map[string]string{"allowed.test": allowedIP, "other.test": otherIP, "rebind.test": rebindIP})

	logPath := filepath.Join(t.TempDir(), "egress.log")
	cfg := network.DefaultConfig()
	cfg.DNS = []string{dnsAddr}
	cfg.Egress = &network.Egress{
		Allow: []string{"Allowed.Test.", "rebind.test", literal.String()},
		Log:   logPath,
	}
	gateway := net.JoinHostPort(cfg.Gateway().String(), strconv.Itoa(port(loopback)))
	es := egressSpec{
		Allowed: "allowed.test", AllowedIP: allowedIP, Other: "other.test",
		Rebind: "rebind.test", RebindIP: rebindIP,
		HTTPPort: port(httpAddr), TLSPort: port(ts.Listener.Addr()), UDPPort: port(pc.LocalAddr()),
		Literal:   literal.String(),
		Refused:   []string{notAllowed.String(), "169.254.169.254:80", gateway},
		RefusedUD: notAllowed.String(),
	}

	c, tap := startChild(t, childSpec{Cfg: cfg, Egress: &es})
	d, err := NewDriver(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	pid := c.cmd.Process.Pid
	if err := d.Attach(context.Background(), pid, tap); err != nil {
		t.Fatal(err)
	}
	comm := readComm(pid)
	c.sock.Write([]byte("go"))
	c.result(t)
	c.finish(t)
	if err := d.Close(); err != nil { // the log is complete once closed
		t.Errorf("Close: %v", err)
	}

	// What the servers saw.
	hostsMu.Lock()
	defer hostsMu.Unlock()
	snisMu.Lock()
	defer snisMu.Unlock()
	if n := asked("other.test"); n != 0 {
		t.Errorf("the DNS server was asked for other.test %d times, want never", n)
	}
	if snis["other.test"] != 0 || snis["allowed.test"] == 0 {
		t.Errorf("TLS server names seen: %v, want allowed.test only", snis)
	}
	if hosts["other.test"] != 1 { // the literal entry's only
		t.Errorf("HTTP Hosts seen: %v, want other.test once (at the IP entry)", hosts)
	}

	// The log: a line for each refusal, with the process that made the TCP ones.
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode: %v, %v; want 0600", fi.Mode(), err)
	}
	log := string(data)
	t.Logf("refusal log:\n%s", log)
	for _, want := range []string{
		" refused udp 10.0.2.3:53 name=other.test pid=" + strconv.Itoa(pid) + " comm=" + comm + " reason=dns-refused\n",
		" refused tcp 10.0.2.3:53 name=other.test pid=" + strconv.Itoa(pid) + " comm=" + comm + " reason=dns-refused\n",
		fmt.Sprintf(" refused tcp %s:%d name=other.test pid=%d comm=%s reason=host-mismatch\n", allowedIP, port(httpAddr), pid, comm),
		fmt.Sprintf(" refused tcp %s:%d name=other.test pid=%d comm=%s reason=sni-mismatch\n", allowedIP, port(ts.Listener.Addr()), pid, comm),
		fmt.Sprintf(" refused tcp %s name=- pid=%d comm=%s reason=not-allowed\n", notAllowed, pid, comm),
		fmt.Sprintf(" refused tcp 169.254.169.254:80 name=- pid=%d comm=%s reason=private-address\n", pid, comm),
		fmt.Sprintf(" refused tcp %s name=- pid=%d comm=%s reason=private-address\n", gateway, pid, comm),
		fmt.Sprintf(" refused tcp %s:80 name=rebind.test pid=%d comm=%s reason=private-address\n", rebindIP, pid, comm),
		fmt.Sprintf(" refused udp %s name=- ", notAllowed),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the refusal log has no line with %q", want)
		}
	}
	for _, line := range strings.SplitAfter(log, "\n") {
		if line == "" {
			continue
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", strings.Fields(line)[0]); err != nil || !strings.HasSuffix(line, "\n") {
			t.Errorf("log line %q: %v", line, err)
		}
		if strings.Contains(line, allowedIP+":"+strconv.Itoa(port(httpAddr))+" name=allowed.test") {
			t.Errorf("an allowed connection was logged: %q", line)
		}
	}
}
