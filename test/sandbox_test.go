package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rless/rless/internal/testenv"
	"github.com/rless/rless/pkg/terminal"
	"golang.org/x/net/dns/dnsmessage"
)

// serveNames runs a DNS server on 127.0.0.1 that answers A queries for the
// names of answers (without the final dot) and NXDOMAIN for others; it
// returns its address.
func serveNames(t *testing.T, answers map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
			name := strings.TrimSuffix(q.Name.String(), ".")
			ip, known := answers[name]
			if !known {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if known && q.Type == dnsmessage.TypeA {
				a := net.ParseIP(ip).To4()
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte(a)})
			}
			msg, err := b.Finish()
			if err == nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// serveText serves body over HTTP on addr ("IP:0") and returns the port.
func serveText(t *testing.T, addr, body string) int {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// sandboxProject makes a home with secrets and a project (a git checkout
// with hooks) for TestSandbox.
func sandboxProject(t *testing.T) (home, project string) {
	t.Helper()
	dir := t.TempDir()
	home = filepath.Join(dir, "home")
	project = filepath.Join(dir, "project")
	for path, content := range map[string]string{
		filepath.Join(home, ".ssh", "id_test"):              "PRIVATE-KEY\n",
		filepath.Join(home, ".bashrc"):                      "# the host's bashrc\n",
		filepath.Join(home, ".gitconfig"):                   "[user]\n\tname = Tester\n",
		filepath.Join(project, "README"):                    "hello\n",
		filepath.Join(project, ".git", "config"):            "[core]\n\tbare = false\n",
		filepath.Join(project, ".git", "hooks", "pre-push"): "#!/bin/sh\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home, project
}

// TestSandbox is issue 15's acceptance: a script in a sandbox tries what
// an untrusted tool would, and everything but the project is refused, the
// network allow-list included.
func TestSandbox(t *testing.T) {
	testenv.NeedEgressAddrs(t)
	if err := syscall.Access("/dev/net/tun", 6); err != nil {
		testenv.SkipWithout(t, "/dev/net/tun is not open to this user")
	}
	allowedIP, otherIP := testenv.EgressAddrs[0], testenv.EgressAddrs[1]
	byName := serveText(t, allowedIP+":0", "by name")
	literal := serveText(t, otherIP+":0", "by address")
	notListed := serveText(t, otherIP+":0", "not listed")
	loopback := serveText(t, "127.0.0.1:0", "host loopback")
	devServer := serveText(t, "127.0.0.1:0", "a server on the host's loopback, allowed")
	dns := serveNames(t, map[string]string{"allowed.test": allowedIP, "other.test": otherIP})
	home, project := sandboxProject(t)
	probe := filepath.Join(rootfs, "bin", "probe")
	script := fmt.Sprintf(`
try() { # what, command...: prints "what: ok" or "what: refused"
	what=$1; shift
	if "$@" >/dev/null 2>&1; then echo "$what: ok"; else echo "$what: refused"; fi
}
try read-ssh-key cat %[1]s/.ssh/id_test
try write-hook sh -c 'echo evil > .git/hooks/pre-commit'
try write-git-config sh -c 'echo evil >> .git/config'
try write-profile sh -c 'mkdir -p .rless && echo x > .rless/sandbox.toml'
echo "secret: ${SECRET_TOKEN:-unset}"
echo evil >> ~/.bashrc
try by-name %[2]s get http://allowed.test:%[3]d/
try by-address %[2]s get http://%[4]s:%[5]d/
try not-listed-port %[2]s get http://%[4]s:%[6]d/
try other-name %[2]s get http://other.test:%[3]d/
try metadata %[2]s get http://169.254.169.254/
try host-loopback %[2]s get http://10.0.2.2:%[7]d/
try host-allowed %[2]s get http://host.containers.internal:%[8]d/
echo made > created.txt
echo edited >> README
`, home, probe, byName, otherIP, literal, notListed, loopback, devServer)
	logFile := filepath.Join(t.TempDir(), "refused.log")
	cmd := rlessCmd("--root", filepath.Join(t.TempDir(), "store"), "sandbox", "--project", project,
		"--resolver", dns, "--allow", "allowed.test", "--allow", fmt.Sprintf("%s:%d", otherIP, literal),
		"--allow", fmt.Sprintf("host.containers.internal:%d", devServer),
		"--ro", probe, "--log", logFile, "--", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "HOME="+home, "SECRET_TOKEN=hunter2")
	before := takeSnapshot(t)
	r := runCmd(t, cmd)
	if r.code != 0 {
		t.Fatalf("sandbox: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("script:\n%s%s", r.stdout, r.stderr)
	assertClean(t, before)
	for _, want := range []string{
		"read-ssh-key: refused", "write-hook: refused", "write-git-config: refused", "write-profile: refused",
		"secret: unset",
		"by-name: ok", "by-address: ok",
		"not-listed-port: refused", "other-name: refused", "metadata: refused", "host-loopback: refused",
		"host-allowed: ok",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("want %q in the script's output:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "network attempt(s) refused") {
		t.Errorf("no count of refused attempts at exit:\n%s", r.stderr)
	}
	// The host: untouched but for the project, whose new file is the user's.
	if data, _ := os.ReadFile(filepath.Join(home, ".bashrc")); string(data) != "# the host's bashrc\n" {
		t.Errorf("~/.bashrc changed on the host: %q", data)
	}
	if _, err := os.Stat(filepath.Join(project, ".git", "hooks", "pre-commit")); err == nil {
		t.Error(".git/hooks/pre-commit was written")
	}
	if data, _ := os.ReadFile(filepath.Join(project, ".git", "config")); strings.Contains(string(data), "evil") {
		t.Error(".git/config was written")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(project, "created.txt"), &st); err != nil {
		t.Errorf("the file the sandbox created: %v", err)
	} else if int(st.Uid) != os.Getuid() {
		t.Errorf("created.txt belongs to uid %d on the host, want %d", st.Uid, os.Getuid())
	}
	if data, _ := os.ReadFile(filepath.Join(project, "README")); string(data) != "hello\nedited\n" {
		t.Errorf("README on the host: %q, want the sandbox's edit", data)
	}
	for _, p := range []string{".envrc", ".vscode", ".rless", ".husky", ".git/info"} {
		if _, err := os.Lstat(filepath.Join(project, p)); err == nil {
			t.Errorf("%s, made to protect it, is left in the project", p)
		}
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("refusal log: %v", err)
	}
	for _, want := range []string{fmt.Sprintf("%s:%d", otherIP, notListed), "name=other.test", "169.254.169.254:80", fmt.Sprintf(":%d", loopback)} {
		if !strings.Contains(string(log), want) {
			t.Errorf("refusal log lacks %q:\n%s", want, log)
		}
	}
}

// TestSandboxKeepRunning: with --keep-running what a command leaves in
// the background (a web server) outlives it, the next command of the
// project runs beside it, and --stop ends it all: no process, mount,
// state or made-up protected path is left.
func TestSandboxKeepRunning(t *testing.T) {
	_, project := sandboxProject(t)
	store := filepath.Join(t.TempDir(), "store")
	if err := os.WriteFile(filepath.Join(project, "index.html"), []byte("served from the project\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sandbox := func(args ...string) result {
		t.Helper()
		return run(t, append([]string{"--root", store, "sandbox", "--project", project, "--network", "none"}, args...)...)
	}
	before := takeSnapshot(t)
	// The server, and a process whose command line the test looks for.
	r := sandbox("--keep-running", "--", "sh", "-c",
		"busybox httpd -p 127.0.0.1:8080 -h .; sleep 600.4242 >/dev/null 2>&1 & echo started")
	if r.code != 0 || r.stdout != "started\n" {
		t.Fatalf("first command: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	ps := run(t, "--root", store, "ps", "--format", "{{.Names}} {{.Status}}")
	if !strings.Contains(ps.stdout, "sandbox-project-") || !strings.Contains(ps.stdout, " Up ") {
		t.Errorf("ps does not list the kept sandbox as up:\n%s%s", ps.stdout, ps.stderr)
	}
	// A second command: the server answers, protected paths stay
	// read-only, and the exit status is the command's.
	r = sandbox("--keep-running", "--", "sh", "-c",
		"busybox wget -qO- http://127.0.0.1:8080/index.html; mkdir .vscode/tasks 2>/dev/null && echo wrote-vscode; exit 7")
	if r.code != 7 || r.stdout != "served from the project\n" {
		t.Errorf("second command: exit %d (want 7)\nstdout: %q\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !hasProcess(t, "sleep 600.4242") {
		t.Error("the background process of the first command is gone")
	}
	// On a terminal, the command gets one of its own, in raw mode.
	tty := startPTY(t, terminal.Size{Rows: 30, Cols: 100}, "--root", store, "sandbox", "--project", project, "--network", "none",
		"--keep-running", "--", "sh", "-c", `tty; stty size; echo READY; read line; echo "got:$line"`)
	tty.waitFor(t, "READY")
	tty.write(t, "typed\r")
	if code := tty.wait(t); code != 0 {
		t.Errorf("command on a terminal: exit %d; output %q", code, tty.output())
	}
	<-tty.done
	if out := strings.ReplaceAll(tty.output(), "\r\n", "\n"); !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "30 100\nREADY\n") || !strings.Contains(out, "got:typed\n") {
		t.Errorf("command on a terminal: output %q", out)
	}
	// Other settings do not run in it.
	r = sandbox("--keep-running", "--ro", "/etc", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "runs with other settings") {
		t.Errorf("other settings: exit %d, stderr %q; want 125 and a refusal", r.code, r.stderr)
	}
	// A sandbox of its own ends beside it, and leaves the kept one's
	// protected paths in place.
	r = sandbox("--", "sh", "-c", "busybox wget -qO- http://127.0.0.1:8080/index.html || echo not-reached")
	if r.code != 0 || r.stdout != "not-reached\n" {
		t.Errorf("a sandbox of its own: exit %d\nstdout: %q\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(project, ".vscode")); err != nil {
		t.Errorf("the kept sandbox's empty .vscode went while it runs: %v", err)
	}
	r = sandbox("--stop")
	if r.code != 0 {
		t.Fatalf("--stop: exit %d: %s", r.code, r.stderr)
	}
	assertClean(t, before)
	if hasProcess(t, "sleep 600.4242") {
		t.Error("the background process outlived --stop")
	}
	for _, p := range []string{".vscode", ".envrc", ".husky", ".git/info"} {
		if _, err := os.Lstat(filepath.Join(project, p)); err == nil {
			t.Errorf("%s, made to protect it, is left in the project after --stop", p)
		}
	}
	ps = run(t, "--root", store, "ps", "-a", "-q")
	if ps.stdout != "" {
		t.Errorf("containers left after --stop: %q", ps.stdout)
	}
	r = sandbox("--stop")
	if r.code != 125 || !strings.Contains(r.stderr, "no sandbox of "+project+" is kept running") {
		t.Errorf("--stop again: exit %d, stderr %q", r.code, r.stderr)
	}
	never, _ := filepath.EvalSymlinks(t.TempDir())
	r = run(t, "--root", store, "sandbox", "--project", never, "--stop")
	if r.code != 125 || r.stderr != "Error: no sandbox of "+never+" is kept running: no such container\n" {
		t.Errorf("--stop in a project never sandboxed: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestSandboxImageKeepRunning: a kept sandbox on an image's root (with
// or without a subordinate range): its background process outlives the
// command, a file the command writes in the project is the user's on the
// host, and --stop removes the container and its storage.
func TestSandboxImageKeepRunning(t *testing.T) {
	registry(t)
	store := imageStore(t)
	id := strings.TrimSpace(mustImg(t, store, "pull", "-q", "oci:"+regLayout.Dir+":"+layoutTag(alpineRef)).stdout)
	project := t.TempDir()
	sandbox := func(args ...string) result {
		t.Helper()
		return rlessImg(t, store, append([]string{"sandbox", "--project", project, "--network", "none", "--image", id}, args...)...)
	}
	before := takeSnapshot(t)
	r := sandbox("--keep-running", "--", "sh", "-c", "sleep 600.4343 >/dev/null 2>&1 & cat /etc/alpine-release > release")
	if r.code != 0 {
		t.Fatalf("first command: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(project, "release"), &st); err != nil {
		t.Errorf("the file the sandbox wrote: %v", err)
	} else if int(st.Uid) != os.Getuid() {
		t.Errorf("the file the sandbox wrote belongs to uid %d on the host, want %d", st.Uid, os.Getuid())
	}
	r = sandbox("--keep-running", "--", "sh", "-c", "ps -o args | grep -c '^sleep 600.4343'")
	if r.code != 0 || r.stdout != "1\n" {
		t.Errorf("second command: exit %d, stdout %q (want the first one's sleep)\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := sandbox("--stop"); r.code != 0 {
		t.Fatalf("--stop: exit %d: %s", r.code, r.stderr)
	}
	assertClean(t, before)
	if out := mustImg(t, store, "ps", "-aq").stdout; out != "" {
		t.Errorf("containers left after --stop: %q", out)
	}
	if entries, _ := os.ReadDir(filepath.Join(store, "containers")); len(entries) > 0 {
		t.Errorf("container storage left after --stop: %d entries", len(entries))
	}
}

// hasProcess reports whether a process of the test user runs whose
// command line starts with prefix.
func hasProcess(t *testing.T, prefix string) bool {
	t.Helper()
	for _, cmd := range takeSnapshot(t).pids {
		if strings.HasPrefix(cmd, prefix) {
			return true
		}
	}
	return false
}

// TestSandboxProfile: a profile's unknown key, or bad value, stops the
// sandbox with exit 125, naming the file, the line and the key; a good
// one is what --print-profile shows, with the flags added.
func TestSandboxProfile(t *testing.T) {
	project := t.TempDir()
	profile := filepath.Join(project, ".rless", "sandbox.toml")
	shown := ".rless/sandbox.toml" // as found from the project, the working directory
	os.MkdirAll(filepath.Dir(profile), 0o755)
	write := func(s string) {
		if err := os.WriteFile(profile, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ content, want string }{
		{"network = \"none\"\n\nallow_hosts = [\"x\"]\n", shown + ":3: key \"allow_hosts\": unknown key"},
		{"# comment\nnetwork = \"wide\"\n", shown + ":2: key \"network\": \"wide\": want allowlist, none or full"},
		{"allow = [\"exa mple.com\"]\n", shown + ":1: key \"allow\""},
		{"ephemeral = \"yes\"\n", shown + ":1: key \"ephemeral\""},
	} {
		write(c.content)
		cmd := exec.Command(rless, "--runroot", runRoot, "sandbox", "--", "true")
		cmd.Dir = project
		r := runCmd(t, cmd)
		if r.code != 125 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("profile %q: exit %d, stderr %q; want 125 and %q", c.content, r.code, r.stderr, c.want)
		}
	}
	write("network = \"allowlist\"\nallow = [\"example.com:443\"]\ncache = [\"npm\"]\n")
	r := run(t, "sandbox", "--project", project, "--allow", "*.example.org", "--print-profile")
	if r.code != 0 {
		t.Fatalf("--print-profile: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{`network = "allowlist"`, `allow = ["example.com:443", "*.example.org"]`, `cache = ["npm"]`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--print-profile lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestExampleSandbox: examples/sandbox embeds the sandbox in a program of
// its own: the command writes the project, not the home it was given, and
// sees none of the program's secrets.
func TestExampleSandbox(t *testing.T) {
	bin := buildExample(t, "sandbox")
	env, _ := exampleEnv(t)
	home, project := sandboxProject(t)
	before := takeSnapshot(t)
	cmd := exec.Command(bin, project, "sh", "-c", `echo "${SECRET_TOKEN:-unset}"; echo x > made; echo y >> ~/.bashrc; ls ~/.ssh >/dev/null 2>&1 || echo no-ssh; exit 3`)
	cmd.Env = append(env, "HOME="+home, "SECRET_TOKEN=hunter2")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || string(out) != "unset\nno-ssh\n" {
		t.Errorf("sandbox example: %v (want exit 3), output %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(project, "made")); err != nil {
		t.Errorf("the project was not written: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(home, ".bashrc")); string(data) != "# the host's bashrc\n" {
		t.Errorf("~/.bashrc changed on the host: %q", data)
	}
	assertClean(t, before)
}
