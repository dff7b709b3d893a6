package test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/internal/testenv"
	"github.com/rless/rless/pkg/oci"
	"github.com/rless/rless/pkg/terminal"
)

// ociBundle writes a bundle whose config.json is `rless oci spec
// --rootless`'s on the test rootfs, changed by edit, and returns its
// directory.
func ociBundle(t *testing.T, edit func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	if r := run(t, "oci", "spec", "--rootless", "--bundle", dir); r.code != 0 {
		t.Fatalf("oci spec: %d %s", r.code, r.stderr)
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Root.Path != "rootfs" || !s.Process.Terminal || s.Linux.UIDMappings[0].HostID != uint32(os.Getuid()) {
		t.Fatalf("oci spec --rootless wrote root %q, terminal %v, uid mappings %v", s.Root.Path, s.Process.Terminal, s.Linux.UIDMappings)
	}
	s.Root.Path = rootfs
	if edit != nil {
		edit(&s)
	}
	if b, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ociRun runs `rless oci --root root ARGS...`.
func ociRun(t *testing.T, root string, args ...string) result {
	t.Helper()
	return runCmd(t, exec.Command(rless, append([]string{"oci", "--root", root}, args...)...))
}

func mustOCI(t *testing.T, root string, args ...string) string {
	t.Helper()
	r := ociRun(t, root, args...)
	if r.code != 0 {
		t.Fatalf("oci %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// ociCleanup deletes container id of root when the test ends, should the
// test have failed before it did: no container of a failed test may run on
// into the next ones.
func ociCleanup(t *testing.T, root, id string) {
	t.Cleanup(func() {
		_ = exec.Command(rless, "oci", "--root", root, "delete", "--force", id).Run()
	})
}

func ociState(t *testing.T, root, id string) oci.State {
	t.Helper()
	var st oci.State
	out := mustOCI(t, root, "state", id)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("state %q: %v", out, err)
	}
	return st
}

// TestOCILifecycle drives a bundle through runc's command line: create,
// state, start, exec (attached and detached), kill, delete, with runc's
// state JSON and errors.
func TestOCILifecycle(t *testing.T) {
	before := takeSnapshot(t)
	root := filepath.Join(t.TempDir(), "state")
	bundle := ociBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"sh", "-c", "trap 'echo got-term; exit 7' TERM; echo started; while :; do sleep 0.05; done"}
		umask := uint32(0o077)
		s.Process.User.Umask = &umask
	})
	out := filepath.Join(t.TempDir(), "out")
	outFile, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	pidFile := filepath.Join(t.TempDir(), "pid")
	ociCleanup(t, root, "c1")
	create := exec.Command(rless, "oci", "--root", root, "create", "--bundle", bundle, "--pid-file", pidFile, "c1")
	create.Stdout, create.Stderr = outFile, outFile
	if err := create.Run(); err != nil {
		b, _ := os.ReadFile(out)
		t.Fatalf("create: %v: %s", err, b)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	st := ociState(t, root, "c1")
	if st.Status != "created" || st.Pid != pid || !proc.Alive(pid) || st.Bundle != bundle || st.Rootfs != rootfs || st.ID != "c1" || st.OCIVersion != specs.Version {
		t.Fatalf("after create: state %+v, pid file %d", st, pid)
	}
	if r := ociRun(t, root, "create", "--bundle", bundle, "c1"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("create of an existing id: %d %q", r.code, r.stderr)
	}
	if r := ociRun(t, root, "exec", "c1", "true"); r.code != 1 || !strings.Contains(r.stderr, "created") {
		t.Errorf("exec before start: %d %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(out); len(b) != 0 {
		t.Fatalf("the command ran before start: %q", b)
	}
	mustOCI(t, root, "start", "c1")
	if st := ociState(t, root, "c1"); st.Status != "running" || st.Pid != pid {
		t.Fatalf("after start: %+v", st)
	}
	waitFile(t, out, "started\n")

	// exec: the container's process, its environment and umask.
	r := ociRun(t, root, "exec", "--env", "X=from-exec", "c1", "sh", "-c", "echo $X; umask; cat /proc/1/cmdline | tr '\\0' ' '; exit 5")
	if r.code != 5 || !strings.Contains(r.stdout, "from-exec\n0077\nsh -c trap") {
		t.Errorf("exec: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// exec --process, detached: the pid file names a process that ends
	// with the process's status.
	procFile := filepath.Join(t.TempDir(), "process.json")
	// It runs until the test lets it end (/dev/shm/go).
	pj, _ := json.Marshal(specs.Process{Args: []string{"sh", "-c", "echo detached >> /dev/shm/exec-out; while [ ! -e /dev/shm/go ]; do sleep 0.02; done; exit 6"}, Cwd: "/", Env: []string{"PATH=/bin"}})
	if err := os.WriteFile(procFile, pj, 0o644); err != nil {
		t.Fatal(err)
	}
	execPid := filepath.Join(t.TempDir(), "exec.pid")
	// The process gets the streams exec -d is given: not the test's pipes.
	if err := exec.Command(rless, "oci", "--root", root, "exec", "--detach", "--process", procFile, "--pid-file", execPid, "c1").Run(); err != nil {
		t.Fatalf("exec --detach: %v", err)
	}
	b, err = os.ReadFile(execPid)
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := strconv.Atoi(string(b))
	if ep <= 0 || !proc.Alive(ep) {
		t.Fatalf("exec -d pid %d is not running", ep)
	}
	mustOCI(t, root, "exec", "c1", "touch", "/dev/shm/go")
	waitGone(t, ep)
	if r := ociRun(t, root, "exec", "c1", "cat", "/dev/shm/exec-out"); r.stdout != "detached\n" {
		t.Errorf("detached exec's output: %q %q", r.stdout, r.stderr)
	}
	pids := mustOCI(t, root, "ps", "--format", "json", "c1")
	var list []int
	if err := json.Unmarshal([]byte(pids), &list); err != nil || len(list) < 2 || !slices.Contains(list, pid) {
		t.Errorf("ps: %q", pids)
	}
	var states []oci.State
	if err := json.Unmarshal([]byte(mustOCI(t, root, "list", "--format", "json")), &states); err != nil || len(states) != 1 || states[0].ID != "c1" || states[0].Status != "running" {
		t.Errorf("list: %+v %v", states, err)
	}
	if r := ociRun(t, root, "delete", "c1"); r.code != 1 || !strings.Contains(r.stderr, "not stopped") {
		t.Errorf("delete of a running container: %d %q", r.code, r.stderr)
	}

	mustOCI(t, root, "kill", "c1", "TERM")
	waitGone(t, pid)
	if st := ociState(t, root, "c1"); st.Status != "stopped" || st.Pid != 0 {
		t.Fatalf("after kill: %+v", st)
	}
	waitFile(t, out, "started\ngot-term\n")
	if r := ociRun(t, root, "kill", "c1", "KILL"); r.code != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("kill of a stopped container: %d %q", r.code, r.stderr)
	}
	mustOCI(t, root, "delete", "c1")
	if r := ociRun(t, root, "state", "c1"); r.code != 1 || !strings.Contains(r.stderr, "c1 does not exist") {
		t.Errorf("state after delete: %d %q", r.code, r.stderr)
	}
	mustOCI(t, root, "delete", "--force", "c1") // gone already: not an error with --force
	if out := mustOCI(t, root, "list", "-q"); out != "" {
		t.Errorf("list after delete: %q", out)
	}
	assertClean(t, before)
}

// TestOCIConsoleSocket: with process.terminal, create sends the pty master
// to --console-socket, as runc does, and the test talks to the shell
// through it; exec -t does the same.
func TestOCIConsoleSocket(t *testing.T) {
	before := takeSnapshot(t)
	root := filepath.Join(t.TempDir(), "state")
	bundle := ociBundle(t, nil) // runc's: sh on a terminal
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	masters := make(chan *os.File, 2)
	go func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			m, err := oci.RecvConsole(conn)
			conn.Close()
			if err == nil {
				masters <- m
			}
		}
	}()
	if r := ociRun(t, root, "create", "--bundle", bundle, "tty1"); r.code != 1 || !strings.Contains(r.stderr, "--console-socket is required") {
		t.Errorf("create of a terminal without a console socket: %d %q", r.code, r.stderr)
	}
	ociCleanup(t, root, "tty1")
	mustOCI(t, root, "create", "--bundle", bundle, "--console-socket", sock, "tty1")
	master := receive(t, masters)
	defer master.Close()
	mustOCI(t, root, "start", "tty1")
	term := readPTY(master)
	if _, err := master.WriteString("echo hello-$((6*7)); tty\n"); err != nil {
		t.Fatal(err)
	}
	term.waitFor(t, "hello-42")
	term.waitFor(t, "/dev/pts/0")

	mustOCI(t, root, "exec", "--tty", "--detach", "--console-socket", sock, "tty1", "sh", "-c", "echo exec-$((2*3)); tty; sleep 0.2")
	em := receive(t, masters)
	defer em.Close()
	readPTY(em).waitFor(t, "exec-6")

	if _, err := master.WriteString("exit 3\n"); err != nil {
		t.Fatal(err)
	}
	st := ociState(t, root, "tty1")
	waitGone(t, st.Pid)
	if st := ociState(t, root, "tty1"); st.Status != "stopped" {
		t.Fatalf("after exit: %+v", st)
	}
	mustOCI(t, root, "delete", "tty1")
	assertClean(t, before)
}

// TestOCIRuntimeName: rless is the runtime itself when called through a
// link named rless-runtime or runc, and under its own name when the
// command line is a runtime's (an engine given rless's path).
func TestOCIRuntimeName(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "rless-runtime")
	if err := os.Symlink(rless, link); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "state")
	bundle := ociBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"true"}
	})
	// The container gets create's standard streams: not the test's pipes.
	ociCleanup(t, root, "n1")
	if err := exec.Command(link, "--root", root, "create", "--bundle", bundle, "n1").Run(); err != nil {
		t.Fatalf("create through %s: %v", link, err)
	}
	for _, c := range [][]string{
		{link, "--root", root, "state", "n1"},
		{rless, "--root", root, "start", "n1"},
		{rless, "--log", filepath.Join(dir, "log.json"), "--log-format", "json", "--root", root, "delete", "--force", "n1"},
	} {
		if r := runCmd(t, exec.Command(c[0], c[1:]...)); r.code != 0 {
			t.Fatalf("%v: %d %s", c[1:], r.code, r.stderr)
		}
	}
	if r := runCmd(t, exec.Command(link, "--version")); r.code != 0 || !strings.Contains(r.stdout, "spec: "+specs.Version) {
		t.Errorf("--version: %q", r.stdout)
	}
	// Failures are logged to --log as runc's JSON, where engines read them.
	logFile := filepath.Join(dir, "fail.json")
	r := runCmd(t, exec.Command(link, "--log", logFile, "--log-format", "json", "--root", root, "start", "nosuch"))
	b, _ := os.ReadFile(logFile)
	var entry struct{ Level, Msg string }
	if r.code != 1 || json.Unmarshal(b, &entry) != nil || entry.Level != "error" || !strings.Contains(entry.Msg, "nosuch does not exist") {
		t.Errorf("start of an unknown container: %d %q, log %q", r.code, r.stderr, b)
	}
	var f struct {
		OCIVersionMax string
		Linux         struct{ Namespaces []string }
	}
	out := runCmd(t, exec.Command(rless, "oci", "features"))
	if err := json.Unmarshal([]byte(out.stdout), &f); err != nil || f.OCIVersionMax != specs.Version || len(f.Linux.Namespaces) != 7 {
		t.Errorf("features: %+v %v", f, err)
	}
}

func receive(t *testing.T, c chan *os.File) *os.File {
	t.Helper()
	select {
	case m := <-c:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no terminal came to the console socket")
		return nil
	}
}

// readPTY collects what a pty master reads.
func readPTY(master *os.File) *ptyRun {
	p := &ptyRun{master: master, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

// waitFile waits until file path holds want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	var b []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, _ = os.ReadFile(path); string(b) == want {
			return
		}
	}
	t.Fatalf("%s holds %q, want %q", path, b, want)
}

// waitGone waits until process pid has ended (and is not a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil || !proc.Alive(pid) {
			return
		}
	}
	t.Fatalf("process %d still runs", pid)
}

// TestOCIPodman: rootless podman runs its containers with rless as its
// OCI runtime (`podman --runtime PATH-OF-RLESS`): run --rm, run -it (the
// console socket), run -d, exec, logs, stop and rm.
func TestOCIPodman(t *testing.T) {
	registry(t)
	p := newPodman(t)
	img := strings.TrimSpace(p.must(t, "pull", "-q", "oci:"+regLayout.Dir+":"+layoutTag(alpineRef)))

	if out := p.must(t, "run", "--rm", img, "echo", "hi"); out != "hi\n" {
		t.Errorf("run --rm: %q", out)
	}
	if r := runCmd(t, p.cmd("run", "--rm", img, "sh", "-c", "exit 9")); r.code != 9 {
		t.Errorf("run of a failing command: exit %d, want 9 (%s)", r.code, r.stderr)
	}
	if r := runCmd(t, p.cmd("run", "--rm", img, "no-such-command")); r.code != 127 {
		t.Errorf("run of a missing command: exit %d, want 127 (%s)", r.code, r.stderr)
	}

	tty := startPTYCmd(t, terminal.Size{Rows: 24, Cols: 80}, p.cmd("run", "-it", "--rm", img, "sh"))
	tty.write(t, "echo tty-$((3*4)); tty\n")
	tty.waitFor(t, "tty-12")
	tty.waitFor(t, "/dev/pts/0")
	tty.write(t, "exit 4\n")
	if code := tty.wait(t); code != 4 {
		t.Errorf("run -it: exit %d, want 4; output %q", code, tty.output())
	}

	p.must(t, "run", "-d", "--name", "web", img, "sh", "-c", "echo started; trap 'echo bye; exit 3' TERM; while :; do sleep 0.1; done")
	if out := p.must(t, "exec", "web", "sh", "-c", "echo exec-$((5*5))"); out != "exec-25\n" {
		t.Errorf("exec: %q", out)
	}
	if r := runCmd(t, p.cmd("exec", "web", "sh", "-c", "exit 6")); r.code != 6 {
		t.Errorf("exec's exit status: %d, want 6", r.code)
	}
	etty := startPTYCmd(t, terminal.Size{Rows: 24, Cols: 80}, p.cmd("exec", "-it", "web", "sh"))
	etty.write(t, "tty; exit 2\n")
	etty.waitFor(t, "/dev/pts/")
	if code := etty.wait(t); code != 2 {
		t.Errorf("exec -it: exit %d, want 2", code)
	}
	p.must(t, "stop", "-t", "10", "web")
	if out := p.must(t, "ps", "-a", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(out, "web Exited (3)") {
		t.Errorf("ps -a after stop: %q", out)
	}
	if out := p.must(t, "logs", "web"); out != "started\nbye\n" {
		t.Errorf("logs: %q", out)
	}
	p.must(t, "rm", "web")
	if out := mustOCI(t, filepath.Join(p.xdg, "rless-runc"), "list", "-q"); out != "" {
		t.Errorf("the runtime still lists %q", out)
	}
}

// TestOCIContainerd: rootless containerd (Debian's 1.6, under Debian's
// rootlesskit, started as containerd's rootless documentation starts it)
// runs containers with rless as its runc binary: `ctr run --runc-binary`,
// with --rm and -d, `task exec`, `task kill`, with their exit statuses.
func TestOCIContainerd(t *testing.T) {
	if len(subUIDs) == 0 {
		t.Skip("no subordinate range: rootlesskit, and so rootless containerd, needs one")
	}
	registry(t)
	for _, p := range []string{"containerd", "rootlesskit", "ctr", "containerd-shim-runc-v2", "nsenter"} {
		if _, err := exec.LookPath(p); err != nil {
			testenv.SkipWithout(t, p+" is not installed")
		}
	}
	before := takeSnapshot(t)
	t.Cleanup(func() { assertClean(t, before) }) // after the others: rootlesskit gone
	// The image, as a docker archive named as Docker Hub names it.
	store := imageStore(t)
	id := strings.TrimSpace(mustImg(t, store, "pull", "-q", "oci:"+regLayout.Dir+":"+layoutTag(alpineRef)).stdout)
	mustImg(t, store, "tag", id, "docker.io/library/alpine:latest")
	archive := filepath.Join(t.TempDir(), "alpine.tar")
	mustImg(t, store, "save", "--format", "docker-archive", "-o", archive, "docker.io/library/alpine:latest")

	dir, err := os.MkdirTemp(workDir, "containerd-")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "config.toml")
	sock := filepath.Join(dir, "containerd.sock")
	if err := os.WriteFile(conf, []byte(`version = 2
root = "`+dir+`/root"
state = "`+dir+`/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "`+sock+`"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	kit := exec.Command("rootlesskit", "--net=slirp4netns", "--copy-up=/etc", "--copy-up=/run", "--state-dir="+filepath.Join(dir, "rk"),
		"containerd", "-c", conf)
	kit.Stdout, kit.Stderr = logFile, logFile
	kit.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir)
	if err := kit.Start(); err != nil {
		t.Fatal(err)
	}
	var childPid string
	ctr := func(args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"-U", "--preserve-credentials", "-m", "-n", "-t", childPid, "ctr", "-a", sock}, args...)...)
	}
	t.Cleanup(func() {
		if childPid != "" {
			_ = exec.Command("nsenter", "-U", "--preserve-credentials", "-m", "-n", "-t", childPid, "rm", "-rf", dir+"/root", dir+"/state").Run()
		}
		_ = kit.Process.Signal(syscall.SIGTERM)
		if _, err := proc.WaitOrKill(kit, 10*time.Second); err != nil {
			t.Logf("rootlesskit: %v", err)
		}
		os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(dir, "rk", "child_pid"))
		if _, err := os.Stat(sock); err == nil && len(b) > 0 {
			childPid = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("containerd did not start: %s", b)
		}
	}
	mustCtr := func(args ...string) string {
		t.Helper()
		r := runCmd(t, ctr(args...))
		if r.code != 0 {
			t.Fatalf("ctr %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	mustCtr("images", "import", archive)
	if out := mustCtr("run", "--runc-binary", rless, "--rm", "docker.io/library/alpine:latest", "t1", "echo", "hi"); out != "hi\n" {
		t.Errorf("ctr run --rm: %q", out)
	}
	if r := runCmd(t, ctr("run", "--runc-binary", rless, "--rm", "docker.io/library/alpine:latest", "t2", "sh", "-c", "exit 3")); r.code != 3 {
		t.Errorf("ctr run of a failing command: exit %d, want 3 (%s)", r.code, r.stderr)
	}
	mustCtr("run", "-d", "--runc-binary", rless, "docker.io/library/alpine:latest", "t3", "sleep", "1000")
	r := runCmd(t, ctr("task", "exec", "--exec-id", "e1", "t3", "sh", "-c", "echo exec-$((4*4)); exit 4"))
	if r.code != 4 || r.stdout != "exec-16\n" {
		t.Errorf("ctr task exec: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if out := mustCtr("task", "ls"); !strings.Contains(out, "t3") || !strings.Contains(out, "RUNNING") {
		t.Errorf("task ls: %q", out)
	}
	mustCtr("task", "kill", "-s", "KILL", "t3")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if out := mustCtr("task", "ls"); strings.Contains(out, "STOPPED") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("t3 did not stop: %q", out)
		}
	}
	mustCtr("task", "rm", "t3")
	mustCtr("containers", "rm", "t3")
	if out := mustCtr("task", "ls"); strings.Contains(out, "t3") {
		t.Errorf("task ls after rm: %q", out)
	}
}

// TestOCINoProcess: a bundle without process (optional until start, as the
// runtime spec says) is created; start ends it, with nothing run.
func TestOCINoProcess(t *testing.T) {
	before := takeSnapshot(t)
	root := filepath.Join(t.TempDir(), "state")
	bundle := ociBundle(t, func(s *specs.Spec) { s.Process = nil })
	ociCleanup(t, root, "np")
	mustOCI(t, root, "create", "--bundle", bundle, "np")
	st := ociState(t, root, "np")
	if st.Status != "created" {
		t.Fatalf("after create: %+v", st)
	}
	mustOCI(t, root, "start", "np")
	waitGone(t, st.Pid)
	if st := ociState(t, root, "np"); st.Status != "stopped" {
		t.Fatalf("after start: %+v", st)
	}
	mustOCI(t, root, "delete", "np")
	assertClean(t, before)
}

// TestOCIPoststartState checks the state the poststart hooks read on their
// standard input: the pid `state` gave after create, and "running", even
// when the process (`true`) has ended by the time the hooks run. A state
// read after start had the pid of a stopped container, 0, in about one
// run of three of the validation suite's hooks_stdin; the rounds here
// give that race its chances.
func TestOCIPoststartState(t *testing.T) {
	before := takeSnapshot(t)
	root := filepath.Join(t.TempDir(), "state")
	hookOut := filepath.Join(t.TempDir(), "poststart")
	bundle := ociBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"true"}
		s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + hookOut}}}}
	})
	// The container's process keeps create's output: a file, not a pipe
	// that create's caller would wait on.
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for i := range 5 {
		id := fmt.Sprintf("ps%d", i)
		ociCleanup(t, root, id)
		create := exec.Command(rless, "oci", "--root", root, "create", "--bundle", bundle, id)
		create.Stdout, create.Stderr = out, out
		if err := create.Run(); err != nil {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("create: %v: %s", err, b)
		}
		created := ociState(t, root, id)
		mustOCI(t, root, "start", id)
		b, err := os.ReadFile(hookOut)
		if err != nil {
			t.Fatal(err)
		}
		var got specs.State
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("the hook's stdin %q: %v", b, err)
		}
		if got.ID != id || got.Pid != created.Pid || got.Pid == 0 || got.Status != specs.StateRunning || got.Bundle != bundle {
			t.Fatalf("round %d: the poststart hook read %+v; after create the state was %+v", i, got, created)
		}
		waitGone(t, created.Pid)
		mustOCI(t, root, "delete", id)
	}
	assertClean(t, before)
}
