package test

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/rless/rless/pkg/container"
)

// execContainer is a container running `sleep` in the background, for
// container.Exec.
type execContainer struct {
	dir string // its state directory
	cmd *exec.Cmd
}

// startExecContainer starts a container with a sleeping command with extra rless flags
// and returns once its command runs.
func startExecContainer(t *testing.T, flags ...string) *execContainer {
	t.Helper()
	before := takeSnapshot(t).state
	args := append([]string{"run"}, flags...)
	// Without rless's init, sh is PID 1: it ends on SIGTERM only with a trap.
	args = append(args, "--rootfs", rootfs, "sh", "-c", `trap "exit 0" TERM; echo READY; sleep 60 & wait`)
	cmd, out := startPiped(t, args...)
	if got := readLine(t, out); got != "READY" {
		t.Fatalf("got %q, want READY", got)
	}
	var dirs []string
	for _, s := range takeSnapshot(t).state {
		if !slices.Contains(before, s) {
			dirs = append(dirs, s)
		}
	}
	if len(dirs) != 1 {
		t.Fatalf("new state directories: %v, want one", dirs)
	}
	return &execContainer{dir: filepath.Join(runRoot, dirs[0]), cmd: cmd}
}

// stop stops the container (its command gets SIGTERM) and waits for rless.
func (c *execContainer) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
}

// execResult is one finished exec.
type execResult struct {
	stdout, stderr string
	code           int
}

// execIn runs proc in c to the end.
func (c *execContainer) exec(t *testing.T, proc *specs.Process, privileged bool) execResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := container.Exec(ctx, c.dir, container.ExecConfig{Process: proc, Privileged: privileged, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("exec %v: %v", proc.Args, err)
	}
	code, err := p.Wait()
	if err != nil {
		t.Fatalf("wait for %v: %v", proc.Args, err)
	}
	return execResult{stdout.String(), stderr.String(), code}
}

// sh is a process running script with sh.
func sh(script string) *specs.Process {
	return &specs.Process{Args: []string{"sh", "-c", script}}
}

// statusLine returns the value of field in /proc/self/status text.
func statusLine(status, field string) string {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestExec(t *testing.T) {
	before := takeSnapshot(t)
	c := startExecContainer(t)

	t.Run("output and status", func(t *testing.T) {
		r := c.exec(t, sh("echo out; echo err >&2; exit 3"), false)
		if r.stdout != "out\n" || r.stderr != "err\n" || r.code != 3 {
			t.Errorf("got %+v, want out, err, 3", r)
		}
	})
	t.Run("same writer for stdout and stderr", func(t *testing.T) {
		var out bytes.Buffer
		p, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: sh("echo a; echo b >&2; echo c"), Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(); code != 0 || err != nil || out.String() != "a\nb\nc\n" {
			t.Errorf("got %q, %d, %v", out.String(), code, err)
		}
	})
	t.Run("env and cwd", func(t *testing.T) {
		p := sh(`echo "$FOO:$PATH"; pwd`)
		p.Env = []string{"FOO=bar", "PATH=/usr/bin:/bin"}
		p.Cwd = "/etc"
		if r := c.exec(t, p, false); r.stdout != "bar:/usr/bin:/bin\n/etc\n" || r.code != 0 {
			t.Errorf("got %+v", r)
		}
		// Unset: the container's.
		if r := c.exec(t, sh(`echo "$PATH"; pwd`), false); !strings.Contains(r.stdout, "/bin") || !strings.HasSuffix(r.stdout, "\n/\n") {
			t.Errorf("container's environment and working directory: got %q", r.stdout)
		}
	})
	t.Run("user and groups", func(t *testing.T) {
		if len(subUIDs) == 0 {
			t.Skip("no subordinate range: only root is mapped")
		}
		p := &specs.Process{Args: []string{"sh", "-c", "id -u; id -g; id -G"}}
		p.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 5}}
		r := c.exec(t, p, false)
		if r.stdout != "1000\n1000\n1000 10 5\n" && r.stdout != "1000\n1000\n1000 5 10\n" || r.code != 0 {
			t.Errorf("ids: got %+v", r)
		}
		p = &specs.Process{Args: []string{"id", "-u"}}
		p.User.UID = 4000000000
		if _, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: p}); err == nil || !strings.Contains(err.Error(), "not mapped") {
			t.Errorf("unmapped user: %v", err)
		}
	})
	t.Run("confinement", func(t *testing.T) {
		script := "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status"
		want := mustRun(t, nil, "sh", "-c", script) // the container's command
		got := c.exec(t, sh(script), false).stdout
		for _, f := range []string{"CapEff", "Seccomp", "NoNewPrivs"} {
			if statusLine(got, f) != statusLine(want, f) {
				t.Errorf("%s: exec %q, container command %q", f, statusLine(got, f), statusLine(want, f))
			}
		}
		if statusLine(got, "Seccomp") != "2" {
			t.Errorf("exec: Seccomp %q, want 2", statusLine(got, "Seccomp"))
		}
		b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
		if err != nil {
			t.Fatal(err)
		}
		last, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		all := fmt.Sprintf("%016x", uint64(1)<<(last+1)-1)
		priv := c.exec(t, sh(script), true).stdout
		if statusLine(priv, "CapEff") != all || statusLine(priv, "Seccomp") != "0" {
			t.Errorf("privileged: %q, want CapEff %s and Seccomp 0", priv, all)
		}
		// The container's capabilities can still be narrowed.
		p := sh(script)
		p.Capabilities = &specs.LinuxCapabilities{}
		p.NoNewPrivileges = true
		r := c.exec(t, p, false).stdout
		if statusLine(r, "CapEff") != "0000000000000000" || statusLine(r, "NoNewPrivs") != "1" {
			t.Errorf("no capabilities, no_new_privs: got %q", r)
		}
	})
	t.Run("rlimits", func(t *testing.T) {
		container1 := c.exec(t, sh("ulimit -Sn; ulimit -Hn"), false).stdout
		p := sh("ulimit -Sn; ulimit -Hn")
		hard, _ := strconv.ParseUint(strings.Fields(container1 + " x x")[1], 10, 64)
		p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: hard}}
		if got, want := c.exec(t, p, false).stdout, fmt.Sprintf("100\n%d\n", hard); got != want {
			t.Errorf("RLIMIT_NOFILE 100:%d: got %q, want %q", hard, got, want)
		}
		// A lower hard limit could only be set once the process runs:
		// refused.
		p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}}
		if _, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: p}); err == nil || !strings.Contains(err.Error(), "hard RLIMIT_NOFILE") {
			t.Errorf("a lower hard limit: %v", err)
		}
		// The init's own (the container's) are intact.
		if got := c.exec(t, sh("ulimit -Sn; ulimit -Hn"), false).stdout; got != container1 {
			t.Errorf("after an exec with its own limits: %q, before %q", got, container1)
		}
	})
	t.Run("pty", func(t *testing.T) {
		p := sh("test -t 0 && tty")
		p.Terminal = true
		r := c.exec(t, p, false)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "/dev/pts/") {
			t.Errorf("got %+v, want a /dev/pts/ name", r)
		}
		// Stdin relayed to the terminal.
		var out bytes.Buffer
		p = &specs.Process{Args: []string{"sh"}, Terminal: true, ConsoleSize: &specs.Box{Height: 33, Width: 77}}
		proc, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: p, Stdin: strings.NewReader("stty size; exit 4\n"), Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		if proc.Terminal() == nil {
			t.Error("no terminal")
		}
		if code, err := proc.Wait(); code != 4 || err != nil || !strings.Contains(out.String(), "33 77") {
			t.Errorf("got %d %v %q", code, err, out.String())
		}
	})
	t.Run("stdin", func(t *testing.T) {
		var out bytes.Buffer
		p, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: &specs.Process{Args: []string{"cat"}}, Stdin: strings.NewReader("hello\n"), Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(); code != 0 || err != nil || out.String() != "hello\n" {
			t.Errorf("got %d %v %q", code, err, out.String())
		}
		// Files are passed as they are.
		f, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		p, err = container.Exec(context.Background(), c.dir, container.ExecConfig{Process: sh("echo to-file"), Stdout: f})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		if b, _ := os.ReadFile(f.Name()); string(b) != "to-file\n" {
			t.Errorf("file: %q", b)
		}
	})
	t.Run("not found and not executable", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			text string
		}{
			{[]string{"no-such-command"}, 127, `executable file "no-such-command" not found in $PATH`},
			{[]string{"/no/such"}, 127, "not found"},
			{[]string{"/noexec.sh"}, 126, "permission denied"},
			{[]string{"/etc"}, 126, "is a directory"},
		} {
			_, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: &specs.Process{Args: tc.args}})
			if container.ExitCodeOf(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.text) {
				t.Errorf("%v: %v (exit %d), want exit %d and %q", tc.args, err, container.ExitCodeOf(err), tc.code, tc.text)
			}
		}
	})
	t.Run("signal", func(t *testing.T) {
		p, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: &specs.Process{Args: []string{"sleep", "60"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(); code != 128+int(syscall.SIGTERM) || err != nil {
			t.Errorf("got %d %v, want 143", code, err)
		}
		if err := p.Signal(syscall.SIGTERM); err == nil {
			t.Error("signal after the end: no error")
		}
	})
	t.Run("context kills", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		p, err := container.Exec(ctx, c.dir, container.ExecConfig{Process: &specs.Process{Args: []string{"sleep", "60"}}})
		if err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(); code != 128+int(syscall.SIGKILL) || err != nil {
			t.Errorf("got %d %v, want 137", code, err)
		}
	})
	t.Run("pid namespace", func(t *testing.T) {
		var out bytes.Buffer
		p, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: sh(`echo $$; tr '\0' ' ' </proc/1/cmdline`), Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		lines := strings.Split(out.String(), "\n")
		if lines[0] != strconv.Itoa(p.Pid()) || p.Pid() <= 1 || p.Pid() > 1000 {
			t.Errorf("$$ = %q, Pid() = %d: want the same small pid", lines[0], p.Pid())
		}
		if len(lines) < 2 || !strings.Contains(lines[1], "rless-init") {
			t.Errorf("/proc/1/cmdline = %q, want rless's init", out.String())
		}
	})
	t.Run("no descriptor leaks", func(t *testing.T) {
		// The exec'd process has no socket (its stdio are pipes); the
		// init's state directory is closed.
		if r := c.exec(t, sh(`ls -l /proc/self/fd/`), false); strings.Contains(r.stdout, "socket") || r.code != 0 {
			t.Errorf("exec'd process's descriptors:\n%s", r.stdout)
		}
		r := c.exec(t, sh(`ls -l /proc/1/fd/; echo ===; for p in /proc/[0-9]*; do [ $p = /proc/1 ] || ls -l $p/fd/; done`), true)
		if strings.Contains(r.stdout, c.dir+"\n") {
			t.Errorf("the state directory is open in the container:\n%s", r.stdout)
		}
		// The init has its sockets; no other process has any.
		if init, others, ok := strings.Cut(r.stdout, "==="); !ok || !strings.Contains(init, "socket") || strings.Contains(others, "socket") {
			t.Errorf("sockets in the container's processes:\n%s", r.stdout)
		}
	})
	t.Run("detached", func(t *testing.T) {
		p, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: &specs.Process{Args: []string{"sleep", "61"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Release(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(); err == nil {
			t.Error("Wait after Release: no error")
		}
		time.Sleep(100 * time.Millisecond)
		script := fmt.Sprintf("tr '\\0' ' ' </proc/%d/cmdline", p.Pid())
		if r := c.exec(t, sh(script), false); r.stdout != "sleep 61 " {
			t.Errorf("released process: %+v, want it still running", r)
		}
	})

	// An exec running when the container ends is reported killed.
	p, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: &specs.Process{Args: []string{"sleep", "60"}}})
	if err != nil {
		t.Fatal(err)
	}
	c.stop()
	if code, err := p.Wait(); code != 137 && err == nil {
		t.Errorf("exec at the container's end: %d, %v", code, err)
	}
	if _, err := container.Exec(context.Background(), c.dir, container.ExecConfig{Process: sh("true")}); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("exec in a stopped container: %v", err)
	}
	assertClean(t, before)
}

// TestExecWithoutInit: with --init=false the command is PID 1 and an exec
// agent process of rless's serves exec: the exec'd process has the
// command's ids, capabilities, seccomp filter, no_new_privs and limits.
func TestExecWithoutInit(t *testing.T) {
	before := takeSnapshot(t)
	c := startExecContainer(t, "--init=false", "--ulimit", "nofile=512:1024")
	if r := c.exec(t, sh("echo out; echo err >&2; exit 3"), false); r.stdout != "out\n" || r.stderr != "err\n" || r.code != 3 {
		t.Errorf("got %+v, want out, err, 3", r)
	}
	const fields = "^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):"
	r := c.exec(t, sh(`cat /proc/1/cmdline; echo; grep -E '`+fields+`' /proc/1/status; grep 'open files' /proc/1/limits; echo --; grep -E '`+fields+`' /proc/self/status; grep 'open files' /proc/self/limits`), false)
	first, ours, ok := strings.Cut(r.stdout, "--\n")
	cmdline, pid1, _ := strings.Cut(first, "\n")
	if !ok || r.code != 0 || pid1 != ours || !strings.HasPrefix(cmdline, "sh\x00-c") || !strings.Contains(ours, "Seccomp:\t2") || !strings.Contains(ours, "512") {
		t.Errorf("PID 1 and the exec'd process differ, or PID 1 is not the command:\n%s\n%s", r.stdout, r.stderr)
	}
	c.stop()
	assertClean(t, before)
}

func TestExecNoCommand(t *testing.T) {
	_, err := container.Exec(context.Background(), filepath.Join(runRoot, "nope"), container.ExecConfig{Process: &specs.Process{}})
	if err == nil || container.ExitCodeOf(err) != container.ExitRlessFailed {
		t.Errorf("no command: %v", err)
	}
	_, err = container.Exec(context.Background(), filepath.Join(runRoot, "nope"), container.ExecConfig{Process: sh("true")})
	if err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("no such container: %v", err)
	}
}
