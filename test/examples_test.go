package test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExamples builds the library examples and runs them as the test user.
func TestExamples(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "run-rootfs")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/run-rootfs").CombinedOutput(); err != nil {
		t.Fatalf("build example: %v\n%s", err, out)
	}
	before := takeSnapshot(t)
	cmd := exec.Command(bin, rootfs, "sh", "-c", "echo hello from $(hostname); cat /proc/self/uid_map | wc -l; exit 5")
	cmd.Env = append(cmd.Environ(), "XDG_RUNTIME_DIR="+filepath.Dir(runRoot))
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 5 {
		t.Fatalf("run-rootfs: %v (want exit 5), output %q", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := "1"
	if len(subUIDs) > 0 {
		want = "2"
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "hello from ") || strings.TrimSpace(lines[1]) != want {
		t.Errorf("output %q", out)
	}
	assertClean(t, before)

	// Built with cgo (Go's default where a C compiler is installed), the
	// program cannot reach all its threads (syscall.AllThreadsSyscall):
	// its containers' stage runs all the same, and its init keeps no
	// ambient capability.
	cgoBin := filepath.Join(t.TempDir(), "run-rootfs-cgo")
	build := exec.Command("go", "build", "-o", cgoBin, "../examples/run-rootfs")
	build.Env = append(build.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build example with cgo: %v\n%s", err, out)
	}
	cmd = exec.Command(cgoBin, rootfs, "grep", "-E", "^Cap(Inh|Amb)", "/proc/1/status")
	cmd.Env = append(cmd.Environ(), "XDG_RUNTIME_DIR="+filepath.Dir(runRoot))
	if out, err := cmd.Output(); err != nil || string(out) != "CapInh:\t0000000000000000\nCapAmb:\t0000000000000000\n" {
		t.Errorf("run-rootfs built with cgo: %v %q", err, out)
	}

	// -net: a userspace network served by the program itself.
	host := hostAddr(t)
	web := serveHTTP(t, host.String()+":0", "page on the host\n")
	cmd = exec.Command(bin, "-net", rootfs, "probe", "get", "http://"+web+"/")
	cmd.Env = append(cmd.Environ(), "XDG_RUNTIME_DIR="+filepath.Dir(runRoot))
	if out, err := cmd.Output(); err != nil || string(out) != "page on the host\n" {
		t.Errorf("run-rootfs -net: %v %q", err, out)
	}

	// A SIGTERM to the program stops the container: the stop signal
	// first, then SIGKILL when the command ignores it. stop returns what
	// the command printed after "ready", its exit status and when the
	// SIGTERM was sent.
	stop := func(timeout, script string) (string, int, time.Time) {
		cmd := exec.Command(bin, "-stop-signal", "USR1", "-stop-timeout", timeout, rootfs, "sh", "-c", script)
		cmd.Env = append(cmd.Environ(), "XDG_RUNTIME_DIR="+filepath.Dir(runRoot))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		if line, err := r.ReadString('\n'); line != "ready\n" {
			t.Fatalf("stop: %q %v", line, err)
		}
		sent := time.Now()
		cmd.Process.Signal(syscall.SIGTERM)
		rest, _ := io.ReadAll(r)
		cmd.Wait()
		return string(rest), cmd.ProcessState.ExitCode(), sent
	}
	loop := "echo ready; while :; do sleep 0.05; done"
	if out, code, _ := stop("60s", `trap 'echo stopped by USR1; exit 3' USR1; `+loop); code != 3 || out != "stopped by USR1\n" {
		t.Errorf("stop signal: exit %d, output %q", code, out)
	}
	rest, code, sent := stop("1s", `trap '' USR1; `+loop)
	if code != 137 || rest != "" {
		t.Errorf("stop of a command that ignores its stop signal: exit %d, output %q", code, rest)
	}
	if d := time.Since(sent); d < time.Second {
		t.Errorf("killed %v after the stop signal, before the timeout", d)
	}
	assertClean(t, before)
}

// TestDemoImage does what `make demo` does: an image of examples/hello,
// written as an OCI layout by hack/mkimage, run by reference.
func TestDemoImage(t *testing.T) {
	dir := t.TempDir()
	hello := filepath.Join(dir, "hello")
	layout := filepath.Join(dir, "demo-image")
	for _, args := range [][]string{
		{"build", "-o", hello, "../examples/hello"},
		{"run", "../hack/mkimage", "-o", layout, "-tag", "demo", "-entrypoint", "/hello", "/hello=" + hello, "/etc/demo-release=@rless test"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	root := imageStore(t)
	before := takeSnapshot(t)
	r := run(t, "--root", root, "run", "--rm", "oci:"+layout+":demo")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Hello from rless! I am PID ") || !strings.Contains(r.stdout, ", uid 0, on host ") || !strings.Contains(r.stdout, "own sources: rless test") {
		t.Errorf("demo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertClean(t, before)
}

// buildExample builds examples/NAME and returns the program's path.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/"+name).CombinedOutput(); err != nil {
		t.Fatalf("build example %s: %v\n%s", name, err, out)
	}
	return bin
}

// exampleEnv is the environment of a library example that uses rless's
// default store and run root: a fresh store (XDG_DATA_HOME/rless), the
// test run root, and the test registry. It returns the store's path too.
func exampleEnv(t *testing.T) ([]string, string) {
	t.Helper()
	data := t.TempDir()
	root := filepath.Join(data, "rless")
	t.Cleanup(func() {
		if out, err := rlessCmd("unshare", "rm", "-rf", root).CombinedOutput(); err != nil {
			t.Errorf("remove store %s: %v\n%s", root, err, out)
		}
	})
	return append(os.Environ(), "XDG_DATA_HOME="+data, "XDG_RUNTIME_DIR="+filepath.Dir(runRoot),
		"CONTAINERS_REGISTRIES_CONF="+regConf, "REGISTRY_AUTH_FILE="+filepath.Join(workDir, "auth.json")), root
}

// TestExampleRunImage: examples/run-image pulls an image through the
// library alone and runs a command in it, stdio connected, exiting with
// the command's status.
func TestExampleRunImage(t *testing.T) {
	registry(t)
	bin := buildExample(t, "run-image")
	env, root := exampleEnv(t)
	before := takeSnapshot(t)
	cmd := exec.Command(bin, "alpine", "cat", "/etc/alpine-release")
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || string(out) != alpineFile || !strings.Contains(stderr.String(), "Trying to pull docker.io/library/alpine:latest") {
		t.Errorf("run-image alpine cat /etc/alpine-release: %v %q\n%s", err, out, stderr.String())
	}
	// Present now: not pulled again; stdin relayed; the command's status.
	cmd = exec.Command(bin, "alpine", "sh", "-c", "cat; exit 7")
	cmd.Env, cmd.Stdin = env, strings.NewReader("from stdin\n")
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 || string(out) != "from stdin\n" || strings.Contains(stderr.String(), "Trying to pull") {
		t.Errorf("run-image alpine sh -c 'cat; exit 7': %v %q\n%s", err, out, stderr.String())
	}
	cmd = exec.Command(bin, "rless/nosuch")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "Error: ") {
		t.Errorf("run-image of a missing image: %v %q", err, out)
	}
	if left := containersLeft(root); len(left) != 0 {
		t.Errorf("container storage left: %v", left)
	}
	assertClean(t, before)
}

// TestExampleLifecycle: examples/lifecycle creates, starts, execs into,
// stops from a second process, waits for and deletes a container, through
// the library.
func TestExampleLifecycle(t *testing.T) {
	runImageExample(t, "lifecycle", "exec-ok\nexited 143\ndeleted\n")
}

func TestExampleDetached(t *testing.T) {
	runImageExample(t, "detached", "log: hello from the log\nexec-ok\nexited 143\ndeleted\n")
}

// runImageExample builds example name, runs it on the alpine image (pulled
// into its store first) and checks its output is want and that it leaves
// nothing behind: process, mount, state, storage or container record.
func runImageExample(t *testing.T, name, want string) {
	registry(t)
	bin := buildExample(t, name)
	env, root := exampleEnv(t)
	pull := imgCmd(root, "pull", "-q", "alpine")
	if out, err := pull.CombinedOutput(); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	before := takeSnapshot(t)
	cmd := exec.Command(bin, "alpine")
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || string(out) != want {
		t.Errorf("%s alpine: %v %q\n%s", name, err, out, stderr.String())
	}
	if left := containersLeft(root); len(left) != 0 {
		t.Errorf("container storage left: %v", left)
	}
	assertClean(t, before)
	assertStoreClean(t, root)
}
