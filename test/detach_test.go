package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/terminal"
)

// Detached containers: run -d and the commands that manage them, each a
// separate rless invocation as a user types them. The monitors of the
// containers run in one supervisor process, which ends after the last;
// nothing else stays.

var idLine = regexp.MustCompile(`^[0-9a-f]{64}\n$`)

// runDetached runs `run -d args...` in store root and returns the id.
func runDetached(t *testing.T, root string, args ...string) string {
	t.Helper()
	r := mustImg(t, root, append([]string{"run", "-d"}, args...)...)
	if !idLine.MatchString(r.stdout) {
		t.Fatalf("run -d %v printed %q, want the container's id", args, r.stdout)
	}
	return strings.TrimSpace(r.stdout)
}

// psField returns `ps -a --filter name=^NAME$ --format TEMPLATE` of one
// container.
func psField(t *testing.T, root, name, template string) string {
	t.Helper()
	r := mustImg(t, root, "ps", "-a", "--filter", "name=^"+name+"$", "--format", template)
	return strings.TrimSpace(r.stdout)
}

// waitStatus waits (30 s at most) until ps -a shows the container's status
// beginning with prefix, and returns it.
func waitStatus(t *testing.T, root, name, prefix string) string {
	t.Helper()
	var st string
	for i := 0; i < 600; i++ {
		if st = psField(t, root, name, "{{.Status}}"); strings.HasPrefix(st, prefix) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("container %s: status %q, want %q...", name, st, prefix)
	return ""
}

// assertStoreClean checks that a store and the run root keep nothing of
// removed containers: no storage, no definition, no monitor files.
func assertStoreClean(t *testing.T, root string) {
	t.Helper()
	if left := containersLeft(root); len(left) > 0 {
		t.Errorf("container storage left: %v", left)
	}
	defs, _ := os.ReadDir(filepath.Join(root, "containers.d"))
	for _, d := range defs {
		if d.Name() != ".names" {
			t.Errorf("container definition left: %s", d.Name())
		}
	}
	names, _ := os.ReadDir(filepath.Join(root, "containers.d", ".names"))
	for _, n := range names {
		t.Errorf("container name left: %s", n.Name())
	}
	mons, _ := os.ReadDir(filepath.Join(runRoot, ".monitors"))
	for _, m := range mons {
		t.Errorf("monitor file left: %s", m.Name())
	}
}

// TestDetachedSession is a podman user's session with a web server: run
// it detached with a published port, list it, read its log, exec into it
// with and without a terminal, stop it, start it again, remove it.
func TestDetachedSession(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "rless/web")
	before := takeSnapshot(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	id := runDetached(t, root, "--name", "web", "-p", fmt.Sprintf("%d:80", port), "rless/web")

	ps := mustImg(t, root, "ps").stdout
	if !strings.Contains(ps, "web") || !strings.Contains(ps, fmt.Sprintf("0.0.0.0:%d->80/tcp", port)) || !strings.Contains(ps, id[:12]) {
		t.Errorf("ps does not list web with its port:\n%s", ps)
	}
	if body := getOnceServed(url); body != webBody {
		t.Fatalf("GET %s: %q, want %q", url, body, webBody)
	}
	if r := mustImg(t, root, "logs", "web"); !strings.Contains(r.stdout, "web starting\n") {
		t.Errorf("logs web: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if r := mustImg(t, root, "exec", "web", "wget", "-qO-", "127.0.0.1"); r.stdout != webBody {
		t.Errorf("exec web wget: %q %s", r.stdout, r.stderr)
	}
	if r := rlessImg(t, root, "exec", "web", "sh", "-c", "exit 42"); r.code != 42 {
		t.Errorf("exec's exit status: %d, want 42 (%s)", r.code, r.stderr)
	}
	p := startPTYCmd(t, terminal.Size{Rows: 24, Cols: 80}, imgCmd(root, "exec", "-it", "web", "sh"))
	p.write(t, "tty; echo done-$((6*7))\n")
	p.waitFor(t, "done-42")
	p.write(t, "exit 5\n")
	if code := p.wait(t); code != 5 {
		t.Errorf("exec -it: exit %d, want 5; output %q", code, p.output())
	}
	if !strings.Contains(p.output(), "/dev/pts/") {
		t.Errorf("exec -it gave no terminal: %q", p.output())
	}

	// httpd ends on SIGTERM: stop does not need to kill it (137), and the
	// status says how it ended.
	if r := mustImg(t, root, "stop", "web"); r.stdout != "web\n" {
		t.Errorf("stop web: %q", r.stdout)
	}
	if st := psField(t, root, "web", "{{.Status}}"); !strings.HasPrefix(st, "Exited (143)") {
		t.Errorf("status after stop: %q, want Exited (143)", st)
	}
	if get(url) != "" {
		t.Errorf("%s still served after stop", url)
	}
	if r := mustImg(t, root, "inspect", "--format", "{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{.Config.Cmd}} {{json .HostConfig.PortBindings}}", "web"); r.stdout != fmt.Sprintf("web exited 143 [sh -c echo web starting; exec httpd -f -v -p 80 -h /www] {\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"%d\"}]}\n", port) {
		t.Errorf("inspect: %q", r.stdout)
	}
	if ps := mustImg(t, root, "ps", "-q").stdout; ps != "" {
		t.Errorf("ps lists a stopped container: %q", ps)
	}
	if r := mustImg(t, root, "start", "web"); r.stdout != "web\n" {
		t.Errorf("start web: %q", r.stdout)
	}
	if body := getOnceServed(url); body != webBody {
		t.Errorf("GET %s after start: %q", url, body)
	}
	if st := psField(t, root, "web", "{{.Status}}"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("status after start: %q", st)
	}
	if r := mustImg(t, root, "rm", "-f", "web"); r.stdout != "web\n" {
		t.Errorf("rm -f web: %q", r.stdout)
	}
	assertClean(t, before)
	assertStoreClean(t, root)
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still listened on after rm", port)
	}
}

// alpineStore returns a store with alpine pulled from the test registry,
// and a snapshot of the processes, mounts and state taken then.
func alpineStore(t *testing.T) (string, snapshot) {
	t.Helper()
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	return root, takeSnapshot(t)
}

// awaitSupervisorsGone waits for the supervisors that earlier tests
// started to end (two seconds after their last container), for a test
// that counts supervisors or their sockets: one still lingering would be
// taken for the test's own.
func awaitSupervisorsGone(t *testing.T) {
	t.Helper()
	var socks []string
	for i := 0; i < 250; i++ {
		if socks, _ = filepath.Glob(filepath.Join(runRoot, ".supervisor", "*.sock")); len(socks) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("supervisors of earlier tests still running: %v", socks)
}

// monitorPid returns the pid in container id's monitor pid file (its
// supervisor's).
func monitorPid(t *testing.T, id string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(runRoot, ".monitors", id+".pid"))
	if err != nil {
		t.Fatalf("monitor pid file: %v", err)
	}
	pid, _ := strconv.Atoi(strings.Fields(string(data) + " ")[0])
	if pid <= 0 {
		t.Fatalf("monitor pid file: %q", data)
	}
	return pid
}

// TestDetachedSupervisor: two detached containers share one supervisor;
// removing one with force kills that one only; the supervisor ends after
// the last, leaving no socket.
func TestDetachedSupervisor(t *testing.T) {
	awaitSupervisorsGone(t)
	root, before := alpineStore(t)
	a := runDetached(t, root, "--name", "sa", "alpine", "sleep", "1000")
	b := runDetached(t, root, "--name", "sb", "alpine", "sleep", "1000")
	sup := monitorPid(t, a)
	if got := monitorPid(t, b); got != sup {
		t.Fatalf("monitors in processes %d and %d, want one supervisor", sup, got)
	}
	if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", sup)); !strings.HasPrefix(string(cmd), "rless-") {
		t.Errorf("supervisor %d runs %q", sup, cmd)
	}
	pidB, _ := strconv.Atoi(psField(t, root, "sb", "{{.Pid}}"))
	if r := mustImg(t, root, "rm", "-f", "sa"); r.stdout != "sa\n" {
		t.Errorf("rm -f sa: %q", r.stdout)
	}
	if st := psField(t, root, "sb", "{{.Status}}"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("sb after rm -f sa: %q", st)
	}
	if pidB <= 0 || syscall.Kill(pidB, 0) != nil {
		t.Errorf("sb's process %d gone with sa", pidB)
	}
	if syscall.Kill(sup, 0) != nil {
		t.Fatalf("the supervisor ended with a container left")
	}
	if r := mustImg(t, root, "exec", "sb", "echo", "ok"); r.stdout != "ok\n" {
		t.Errorf("exec sb after rm -f sa: %q %s", r.stdout, r.stderr)
	}
	mustImg(t, root, "rm", "-f", "sb")
	assertClean(t, before) // the supervisor among the processes
	socks, _ := filepath.Glob(filepath.Join(runRoot, ".supervisor", "*.sock"))
	if len(socks) > 0 {
		t.Errorf("supervisor socket left: %v", socks)
	}
	assertStoreClean(t, root)
}

// TestDetachedKilled: SIGKILL of the monitor (the supervisor) takes the
// container with it, SIGKILL of the container's first process is recorded
// as 137; ps -a tells both, rm cleans up, start works again.
func TestDetachedKilled(t *testing.T) {
	root, before := alpineStore(t)

	id := runDetached(t, root, "--name", "mon", "alpine", "sleep", "1000")
	mon := monitorPid(t, id) // the supervisor
	ctrPid, _ := strconv.Atoi(psField(t, root, "mon", "{{.Pid}}"))
	if ctrPid <= 0 {
		t.Fatalf("container pid %d", ctrPid)
	}
	if err := syscall.Kill(mon, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := waitStatus(t, root, "mon", "Exited"); !strings.Contains(st, "137") {
		t.Errorf("status after the monitor's SIGKILL: %q", st)
	}
	for i := 0; i < 250 && syscall.Kill(ctrPid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if syscall.Kill(ctrPid, 0) == nil {
		t.Errorf("container process %d outlived its monitor", ctrPid)
	}
	// It starts again, and its first process killed is exit status 137,
	// as the monitor records it.
	mustImg(t, root, "start", "mon")
	waitStatus(t, root, "mon", "Up")
	ctrPid, _ = strconv.Atoi(psField(t, root, "mon", "{{.Pid}}"))
	if err := syscall.Kill(ctrPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if r := mustImg(t, root, "wait", "mon"); r.stdout != "137\n" {
		t.Errorf("wait after SIGKILL of PID 1: %q", r.stdout)
	}
	if st := psField(t, root, "mon", "{{.Status}}"); !strings.HasPrefix(st, "Exited (137)") {
		t.Errorf("status after SIGKILL of PID 1: %q", st)
	}
	mustImg(t, root, "rm", "mon")
	assertClean(t, before)
	assertStoreClean(t, root)
}

// TestDetachedRunRootWiped: a reboot empties the run root; the container
// is then listed as exited, starts again and is removed. The supervisor
// of the first run, whose files went with the run root, ends all the same,
// leaving the one started since alone.
func TestDetachedRunRootWiped(t *testing.T) {
	awaitSupervisorsGone(t)
	root, before := alpineStore(t)
	runDetached(t, root, "--name", "boot", "alpine", "sleep", "1000")
	mustImg(t, root, "stop", "-t", "0", "boot")
	entries, _ := os.ReadDir(runRoot)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(runRoot, e.Name()))
	}
	if st := psField(t, root, "boot", "{{.Status}}"); !strings.HasPrefix(st, "Exited") {
		t.Errorf("status after the run root was wiped: %q", st)
	}
	mustImg(t, root, "start", "boot")
	waitStatus(t, root, "boot", "Up")
	// Past the first supervisor's linger: the second one's socket stays.
	time.Sleep(3 * time.Second)
	if socks, _ := filepath.Glob(filepath.Join(runRoot, ".supervisor", "*.sock")); len(socks) != 1 {
		t.Errorf("supervisor sockets with boot running: %v, want one", socks)
	}
	mustImg(t, root, "rm", "-f", "boot")
	assertClean(t, before)
	assertStoreClean(t, root)
}

// TestDetachedRestart: --restart=on-failure:2 runs a failing command three
// times in all, then leaves it exited with its status.
func TestDetachedRestart(t *testing.T) {
	registry(t)
	root := imageStore(t)
	before := takeSnapshot(t)
	runDetached(t, root, "--name", "flaky", "--restart", "on-failure:2", "alpine", "sh", "-c", "echo attempt; exit 3")
	var logs string
	for i := 0; i < 600; i++ {
		st := psField(t, root, "flaky", "{{.Status}}")
		logs = mustImg(t, root, "logs", "flaky").stdout
		if strings.HasPrefix(st, "Exited (3)") && strings.Count(logs, "attempt\n") == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(logs, "attempt\n"); n != 3 {
		t.Fatalf("on-failure:2 ran the command %d times, want 3 (logs %q)", n, logs)
	}
	// It stays exited: no fourth run.
	time.Sleep(1500 * time.Millisecond)
	if n := strings.Count(mustImg(t, root, "logs", "flaky").stdout, "attempt\n"); n != 3 {
		t.Errorf("restarted beyond its limit: %d runs", n)
	}
	if r := mustImg(t, root, "wait", "flaky"); r.stdout != "3\n" {
		t.Errorf("wait: %q", r.stdout)
	}
	mustImg(t, root, "rm", "flaky")

	// A failing healthcheck with --health-on-failure=kill ends it.
	runDetached(t, root, "--name", "sick", "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1",
		"--health-on-failure", "kill", "alpine", "sleep", "1000")
	waitStatus(t, root, "sick", "Exited (137)")
	mustImg(t, root, "rm", "sick")

	// logs -f follows the log until the container ends.
	runDetached(t, root, "--name", "talk", "alpine", "sh", "-c", "echo first; sleep 1; echo second >&2; echo third")
	if r := mustImg(t, root, "logs", "-f", "talk"); r.stdout != "first\nthird\n" || r.stderr != "second\n" {
		t.Errorf("logs -f: stdout %q stderr %q", r.stdout, r.stderr)
	}
	mustImg(t, root, "rm", "talk")
	assertClean(t, before)
	assertStoreClean(t, root)
}

// TestDetachedParallel: 20 run -d at once, with distinct names, all start
// and are listed; rm -fa removes them all.
func TestDetachedParallel(t *testing.T) {
	root, before := alpineStore(t)
	var wg sync.WaitGroup
	results := make([]result, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runCmd(t, imgCmd(root, "run", "-d", "--name", fmt.Sprintf("par%d", i), "alpine", "sleep", "1000"))
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 || !idLine.MatchString(r.stdout) {
			t.Errorf("run -d par%d: exit %d %q %s", i, r.code, r.stdout, r.stderr)
		}
	}
	ids := strings.Fields(mustImg(t, root, "ps", "-q").stdout)
	if len(ids) != 20 {
		t.Errorf("ps -q lists %d containers, want 20: %v", len(ids), ids)
	}
	names := mustImg(t, root, "ps", "--format", "{{.Names}}").stdout
	for i := range results {
		if !strings.Contains(names, fmt.Sprintf("par%d\n", i)) {
			t.Errorf("ps does not list par%d", i)
		}
	}
	if r := mustImg(t, root, "rm", "-fa"); strings.Count(r.stdout, "\n") != 20 {
		t.Errorf("rm -fa printed %q", r.stdout)
	}
	if ps := mustImg(t, root, "ps", "-aq").stdout; ps != "" {
		t.Errorf("ps -aq after rm -fa: %q", ps)
	}
	assertClean(t, before)
	assertStoreClean(t, root)
}

// TestDetachedLogLines: 100,000 lines written as fast as the command can,
// then a line without its end: logs returns every one, in order, and the
// log file marks the last as partial.
func TestDetachedLogLines(t *testing.T) {
	registry(t)
	root := imageStore(t)
	id := runDetached(t, root, "--name", "chatty", "alpine", "sh", "-c", "seq 1 100000; printf tail")
	if r := mustImg(t, root, "wait", "chatty"); r.stdout != "0\n" {
		t.Fatalf("wait: %q", r.stdout)
	}
	var want strings.Builder
	for i := 1; i <= 100000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	want.WriteString("tail")
	got := mustImg(t, root, "logs", "chatty").stdout
	if got != want.String() {
		gl, wl := strings.Split(got, "\n"), strings.Split(want.String(), "\n")
		for i := range wl {
			if i >= len(gl) || gl[i] != wl[i] {
				t.Fatalf("logs: %d lines; line %d differs (%q)", len(gl), i+1, gl[min(i, len(gl)-1)])
			}
		}
		t.Fatalf("logs: %d lines, want %d", len(gl), len(wl))
	}
	if r := mustImg(t, root, "logs", "--tail", "2", "chatty"); r.stdout != "100000\ntail" {
		t.Errorf("logs --tail 2: %q", r.stdout)
	}
	data, err := os.ReadFile(filepath.Join(root, "containers.d", id, "ctr.log"))
	if err != nil {
		t.Fatal(err)
	}
	k8sLine := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) stdout [FP] `)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for _, l := range lines[:3] {
		if !k8sLine.MatchString(l) {
			t.Errorf("log line not in k8s-file format: %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, " stdout P tail") {
		t.Errorf("last log entry %q, want a partial (P) one", last)
	}
	mustImg(t, root, "rm", "chatty")
	assertStoreClean(t, root)
}

// TestDetachedAttach: attach to a detached container's terminal, type into
// it, leave with the detach keys; it still runs.
func TestDetachedAttach(t *testing.T) {
	registry(t)
	root := imageStore(t)
	runDetached(t, root, "-it", "--name", "shell", "alpine", "sh")
	p := startPTYCmd(t, terminal.Size{Rows: 24, Cols: 80}, imgCmd(root, "attach", "shell"))
	p.write(t, "echo attached-$((6*7))\n")
	p.waitFor(t, "attached-42")
	p.write(t, "\x10\x11") // Ctrl-P Ctrl-Q
	if code := p.wait(t); code != 0 {
		t.Errorf("attach after the detach keys: exit %d; output %q", code, p.output())
	}
	if st := psField(t, root, "shell", "{{.Status}}"); !strings.HasPrefix(st, "Up") {
		t.Errorf("status after detaching: %q", st)
	}
	// Other keys, and the end of the shell ends attach with its status.
	p = startPTYCmd(t, terminal.Size{Rows: 24, Cols: 80}, imgCmd(root, "attach", "--detach-keys", "ctrl-x", "shell"))
	p.write(t, "\x10\x11echo still-$((6*7))\n")
	p.waitFor(t, "still-42")
	p.write(t, "exit 4\n")
	if code := p.wait(t); code != 4 {
		t.Errorf("attach until the shell exits: exit %d; output %q", code, p.output())
	}
	waitStatus(t, root, "shell", "Exited (4)")
	mustImg(t, root, "rm", "shell")

	// run -it on a terminal: the same keys leave the container running.
	p = startPTYCmd(t, terminal.Size{Rows: 24, Cols: 80}, imgCmd(root, "run", "-it", "--name", "fg", "alpine", "sh"))
	p.write(t, "echo fg-$((6*7))\n")
	p.waitFor(t, "fg-42")
	p.write(t, "\x10\x11")
	if code := p.wait(t); code != 0 {
		t.Errorf("run -it after the detach keys: exit %d; output %q", code, p.output())
	}
	if st := psField(t, root, "fg", "{{.Status}}"); !strings.HasPrefix(st, "Up") {
		t.Errorf("status after detaching from run -it: %q", st)
	}
	p = startPTYCmd(t, terminal.Size{Rows: 24, Cols: 80}, imgCmd(root, "attach", "fg"))
	p.write(t, "exit 6\n")
	if code := p.wait(t); code != 6 {
		t.Errorf("attach to fg until it exits: exit %d; output %q", code, p.output())
	}
	mustImg(t, root, "rm", "fg")
	// Ended while attached, it is removed, as a foreground container is.
	p = startPTYCmd(t, terminal.Size{Rows: 24, Cols: 80}, imgCmd(root, "run", "-it", "--name", "once", "alpine", "sh", "-c", "exit 9"))
	if code := p.wait(t); code != 9 {
		t.Errorf("run -it ending: exit %d; output %q", code, p.output())
	}
	if names := mustImg(t, root, "ps", "-a", "--format", "{{.Names}}").stdout; names != "" {
		t.Errorf("containers left after run -it ended: %q", names)
	}
	assertStoreClean(t, root)
}

// TestDetachedErrors: each mistake is one line and podman's exit status.
func TestDetachedErrors(t *testing.T) {
	registry(t)
	root := imageStore(t)
	runDetached(t, root, "--name", "busy", "alpine", "sleep", "1000")
	runDetached(t, root, "--name", "done", "alpine", "true")
	mustImg(t, root, "wait", "done")
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"logs", "nosuch"}, 125, `no container with name or ID "nosuch" found`},
		{[]string{"stop", "nosuch"}, 125, `no container with name or ID "nosuch" found`},
		{[]string{"rm", "nosuch"}, 1, `no container with name or ID "nosuch" found`},
		{[]string{"run", "-d", "--name", "busy", "alpine", "true"}, 125, `the container name "busy" is already in use`},
		{[]string{"exec", "done", "true"}, 125, "can only create exec sessions on running containers: container state improper"},
		{[]string{"rm", "busy"}, 2, "cannot remove container"},
		{[]string{"attach", "-t", "busy"}, 125, "unknown shorthand flag: 't'"},
		{[]string{"run", "-d", "--restart", "sometimes", "alpine", "true"}, 125, `"sometimes" is not a valid restart policy`},
	} {
		r := rlessImg(t, root, c.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) || len(lines) != 1 || !strings.HasPrefix(lines[0], "Error: ") {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line with %q", c.args, r.code, r.stderr, c.code, c.msg)
		}
	}
	if r := rlessImg(t, root, "inspect", "nosuch"); r.code != 125 || !strings.Contains(r.stderr, `no such object: "nosuch"`) {
		t.Errorf("inspect nosuch: exit %d %s", r.code, r.stderr)
	}
	// system prune removes the stopped containers, not the running one.
	if r := mustImg(t, root, "system", "prune", "-f"); !strings.Contains(r.stdout, "Deleted Containers") {
		t.Errorf("system prune: %q", r.stdout)
	}
	if names := mustImg(t, root, "ps", "-a", "--format", "{{.Names}}").stdout; names != "busy\n" {
		t.Errorf("after system prune: %q", names)
	}
	mustImg(t, root, "rm", "-fa")
	assertStoreClean(t, root)
}

// TestDetachedManage: the commands around a running detached container:
// healthchecks, cp both ways, top, rename, pause where there is a freezer,
// --cidfile, --rm with -d, exec without rless's init, and prune.
func TestDetachedManage(t *testing.T) {
	root, before := alpineStore(t)
	cidfile := filepath.Join(t.TempDir(), "cid")
	id := runDetached(t, root, "--name", "box", "--cidfile", cidfile, "-l", "team=rless",
		"--health-cmd", "test -f /healthy", "--health-interval", "disable", "--health-retries", "1",
		"alpine", "sleep", "1000")
	if data, _ := os.ReadFile(cidfile); string(data) != id {
		t.Errorf("--cidfile holds %q, want %s", data, id)
	}
	if r := rlessImg(t, root, "healthcheck", "run", "box"); r.code != 1 || r.stdout != "unhealthy\n" {
		t.Errorf("healthcheck run, failing: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if st := psField(t, root, "box", "{{.Status}}"); !strings.HasSuffix(st, "(unhealthy)") {
		t.Errorf("ps status of an unhealthy container: %q", st)
	}
	mustImg(t, root, "exec", "box", "touch", "/healthy")
	if r := rlessImg(t, root, "healthcheck", "run", "box"); r.code != 0 {
		t.Errorf("healthcheck run, passing: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if st := psField(t, root, "box", "{{.Status}}"); !strings.HasSuffix(st, "(healthy)") {
		t.Errorf("ps status of a healthy container: %q", st)
	}
	if r := rlessImg(t, root, "healthcheck", "run", "nosuch"); r.code != 125 {
		t.Errorf("healthcheck run of no container: exit %d", r.code)
	}

	// cp: in as the container's root, out as the user.
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in.txt"), []byte("from the host\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	mustImg(t, root, "cp", filepath.Join(host, "in.txt"), "box:/tmp/")
	if r := mustImg(t, root, "exec", "box", "stat", "-c", "%u:%g %a", "/tmp/in.txt"); r.stdout != "0:0 640\n" {
		t.Errorf("copied in: %q", r.stdout)
	}
	// Owned by another id of the container where there is a range.
	owner := ""
	if len(subUIDs) > 0 {
		owner = " && chown 1234 /out/sub/f"
	}
	mustImg(t, root, "exec", "box", "sh", "-c", "mkdir -p /out/sub && echo made inside > /out/sub/f"+owner)
	mustImg(t, root, "cp", "box:/out", filepath.Join(host, "out"))
	if data, err := os.ReadFile(filepath.Join(host, "out", "sub", "f")); err != nil || string(data) != "made inside\n" {
		t.Errorf("copied out: %q %v", data, err)
	}
	if r := rlessImg(t, root, "cp", "box:/nosuch", host); r.code != 125 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("cp of a missing path: exit %d %s", r.code, r.stderr)
	}

	if r := mustImg(t, root, "top", "box"); !strings.Contains(r.stdout, "sleep 1000") || !strings.Contains(r.stdout, "PID") {
		t.Errorf("top: %q", r.stdout)
	}
	mustImg(t, root, "rename", "box", "crate")
	if r := mustImg(t, root, "ps", "--filter", "label=team=rless", "--format", "{{.Names}}"); r.stdout != "crate\n" {
		t.Errorf("ps after rename: %q", r.stdout)
	}
	if r := rlessImg(t, root, "pause", "crate"); r.code == 0 {
		mustImg(t, root, "unpause", "crate")
	} else if !strings.Contains(r.stderr, "cgroup v2") {
		t.Errorf("pause without a freezer: exit %d %q", r.code, r.stderr)
	}

	// exec in a container whose command is PID 1.
	runDetached(t, root, "--name", "noinit", "--init=false", "alpine", "sleep", "1000")
	if r := mustImg(t, root, "exec", "noinit", "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo; id -u"); r.stdout != "sleep 1000 \n0\n" {
		t.Errorf("exec without init: %q", r.stdout)
	}
	// --rm with -d: gone once it ends.
	runDetached(t, root, "--rm", "--name", "brief", "alpine", "true")
	for i := 0; i < 200 && strings.Contains(mustImg(t, root, "ps", "-a", "--format", "{{.Names}}").stdout, "brief"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if names := mustImg(t, root, "ps", "-a", "--format", "{{.Names}}").stdout; strings.Contains(names, "brief") {
		t.Errorf("a --rm -d container is kept after it ended: %q", names)
	}
	mustImg(t, root, "stop", "-t", "1", "noinit")
	if r := mustImg(t, root, "container", "prune", "-f"); strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("container prune: %q", r.stdout)
	}
	if names := mustImg(t, root, "ps", "-a", "--format", "{{.Names}}").stdout; names != "crate\n" {
		t.Errorf("after prune: %q", names)
	}
	mustImg(t, root, "rm", "-f", "crate")
	assertClean(t, before)
	assertStoreClean(t, root)
}

// TestDetachedSpareInit: once a container runs, the supervisor starts the
// next one's init ahead (pkg/container/spare.go), and the next run -d
// claims it. That container is one like any other: namespaces of its own,
// its output in its log, exec into it; and the spare ends with the
// supervisor.
func TestDetachedSpareInit(t *testing.T) {
	root, before := alpineStore(t)
	runDetached(t, root, "--name", "spa", "alpine", "sleep", "1000")
	time.Sleep(500 * time.Millisecond) // the spare starts 30 ms after a start
	// A process started now: the spare's init started before it.
	marker := exec.Command("sleep", "10")
	if err := marker.Start(); err != nil {
		t.Fatal(err)
	}
	markerStart := startTicks(t, marker.Process.Pid)
	marker.Process.Kill()
	marker.Wait()
	runDetached(t, root, "--name", "spb", "alpine", "sh", "-c", "echo out; echo err >&2; exec sleep 1000")
	initA, initB := initOf(t, root, "spa"), initOf(t, root, "spb")
	if got := startTicks(t, initB); got >= markerStart {
		t.Errorf("spb's init %d started at tick %d, no earlier than the run began (tick %d): not the spare", initB, got, markerStart)
	}
	for _, ns := range []string{"user", "mnt", "pid", "net"} {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", initA, ns))
		b, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", initB, ns))
		if a == "" || a == b {
			t.Errorf("%s namespaces of spa and spb: %q and %q", ns, a, b)
		}
	}
	for i := 0; ; i++ {
		r := mustImg(t, root, "logs", "spb")
		if r.stdout == "out\n" && r.stderr == "err\n" {
			break
		}
		if i == 100 {
			t.Fatalf("logs spb: stdout %q, stderr %q", r.stdout, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := mustImg(t, root, "exec", "spb", "id", "-u"); r.stdout != "0\n" {
		t.Errorf("exec spb id -u: %q %s", r.stdout, r.stderr)
	}
	mustImg(t, root, "rm", "-f", "spa", "spb")
	assertClean(t, before) // the spare with the supervisor
	assertStoreClean(t, root)
}

// initOf returns the pid of rless's init in container name: its PID 1,
// the parent of its command.
func initOf(t *testing.T, root, name string) int {
	t.Helper()
	pid, _ := strconv.Atoi(psField(t, root, name, "{{.Pid}}"))
	table, err := proc.Table()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{pid, table[pid].PPid} {
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); strings.HasPrefix(string(cmd), "rless-init\x00") {
			return p
		}
	}
	t.Fatalf("no rless-init found for %s", name)
	return 0
}

// startTicks returns when process pid started, in clock ticks since boot.
func startTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	n, err := proc.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
