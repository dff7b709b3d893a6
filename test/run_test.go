package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestUIDMap checks the id mapping: podman's two-line layout when the user
// has a subordinate range, a single line without one. The harness runs the
// suite as a user with a range and this test also as one without, and says
// which to expect in RLESS_TEST_EXPECT_RANGE.
func TestUIDMap(t *testing.T) {
	expect := os.Getenv("RLESS_TEST_EXPECT_RANGE")
	if expect == "" {
		expect = "1"
		if len(subUIDs) == 0 {
			expect = "0"
		}
	}
	if (expect == "1") != (len(subUIDs) > 0) {
		t.Fatalf("RLESS_TEST_EXPECT_RANGE=%s but /etc/subuid has %d ranges for this user", expect, len(subUIDs))
	}
	before := takeSnapshot(t)
	lines := strings.Split(strings.TrimSpace(mustRun(t, nil, "cat", "/proc/self/uid_map")), "\n")
	uid := os.Getuid()
	first := strings.Fields(lines[0])
	if len(first) != 3 || first[0] != "0" || first[1] != itoa(uid) || first[2] != "1" {
		t.Errorf("first uid_map line = %q, want 0 %d 1", lines[0], uid)
	}
	if expect == "1" {
		if len(lines) != 2 {
			t.Fatalf("uid_map has %d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		second := strings.Fields(lines[1])
		want := []string{"1", itoa(int(subUIDs[0].Start)), itoa(int(subUIDs[0].Count))}
		if strings.Join(second, " ") != strings.Join(want, " ") {
			t.Errorf("second uid_map line = %q, want %v", lines[1], want)
		}
		gidLines := strings.Split(strings.TrimSpace(mustRun(t, nil, "cat", "/proc/self/gid_map")), "\n")
		if len(gidLines) != 2 {
			t.Errorf("gid_map has %d lines, want 2", len(gidLines))
		}
	} else if len(lines) != 1 {
		t.Fatalf("uid_map has %d lines, want 1 (no subordinate range):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if got := strings.TrimSpace(mustRun(t, nil, "id", "-u")); got != "0" {
		t.Errorf("id -u = %q, want 0", got)
	}
	assertClean(t, before)
}

func TestNamespacesDiffer(t *testing.T) {
	before := takeSnapshot(t)
	kinds := []string{"mnt", "pid", "net", "uts", "ipc", "cgroup", "user"}
	script := ""
	for _, k := range kinds {
		script += "readlink /proc/self/ns/" + k + "; "
	}
	out := strings.Fields(mustRun(t, nil, "sh", "-c", script))
	if len(out) != len(kinds) {
		t.Fatalf("got %d namespace links, want %d: %v", len(out), len(kinds), out)
	}
	for i, k := range kinds {
		host, err := os.Readlink("/proc/self/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		if out[i] == host {
			t.Errorf("%s namespace is the host's (%s)", k, host)
		}
	}
	// --network host keeps the host's network namespace only.
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	if got := strings.TrimSpace(mustRun(t, []string{"--network", "host"}, "readlink", "/proc/self/ns/net")); got != hostNet {
		t.Errorf("--network host: net namespace %s, want the host's %s", got, hostNet)
	}
	assertClean(t, before)
}

func TestPID1(t *testing.T) {
	before := takeSnapshot(t)
	// With rless's init, PID 1 is the init and the host's processes are invisible.
	out := mustRun(t, nil, "ps", "-o", "pid,args")
	lines := strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(lines) != 2 {
		t.Fatalf("ps shows %d processes, want init and ps:\n%s", len(lines), out)
	}
	if f := strings.Fields(lines[0]); f[0] != "1" || !strings.Contains(lines[0], "rless-init") {
		t.Errorf("PID 1 is %q, want rless-init", lines[0])
	}
	if f := strings.Fields(lines[1]); !strings.HasPrefix(f[1], "ps") {
		t.Errorf("second process is %q, want ps", lines[1])
	}
	if got := strings.TrimSpace(mustRun(t, []string{"--init=false"}, "sh", "-c", "echo $$")); got != "1" {
		t.Errorf("--init=false: $$ = %q, want 1", got)
	}
	if got := strings.TrimSpace(mustRun(t, nil, "sh", "-c", "echo $$")); got == "1" {
		t.Errorf("with init the command is PID 1")
	}
	assertClean(t, before)
}

func TestZombiesReaped(t *testing.T) {
	before := takeSnapshot(t)
	// The orphaned sleep is reparented to the init, which must reap it.
	out := mustRun(t, nil, "sh", "-c", "(sleep 0.1 &); sleep 0.6; cat /proc/[0-9]*/stat")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "Z" {
			t.Errorf("zombie left: %s", line)
		}
	}
	assertClean(t, before)
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name    string
		flags   []string
		args    []string
		code    int
		errLine string // the one line expected on stderr, if any
	}{
		{"exit 7", nil, []string{"sh", "-c", "exit 7"}, 7, ""},
		{"killed by TERM", nil, []string{"sh", "-c", "kill -TERM $$"}, 143, ""},
		{"killed by KILL", nil, []string{"sh", "-c", "kill -KILL $$"}, 137, ""},
		{"exit 7, no init", []string{"--init=false"}, []string{"sh", "-c", "exit 7"}, 7, ""},
		{"not found", nil, []string{"no-such-command"}, 127, `executable file "no-such-command" not found in $PATH`},
		{"not found, no init", []string{"--init=false"}, []string{"no-such-command"}, 127, "not found"},
		{"not found by path", nil, []string{"/bin/no-such"}, 127, "not found"},
		{"not executable", nil, []string{"/noexec.sh"}, 126, "permission denied"},
		{"directory", nil, []string{"/etc"}, 126, "is a directory"},
		{"user out of range", []string{"--user", "4000000000"}, []string{"true"}, 126, "uids and gids must be in range"},
		{"unknown user", []string{"--user", "nobody-here"}, []string{"true"}, 126, "unable to find user nobody-here"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := takeSnapshot(t)
			r := runIn(t, c.flags, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, c.code, r.stderr)
			}
			checkErrLine(t, r.stderr, c.errLine)
			assertClean(t, before)
		})
	}
}

// checkErrLine checks that stderr is exactly one "Error: ..." line
// containing want, or empty when want is "".
func checkErrLine(t *testing.T, stderr, want string) {
	t.Helper()
	if want == "" {
		if stderr != "" {
			t.Errorf("unexpected stderr %q", stderr)
		}
		return
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "Error: ") || !strings.Contains(lines[0], want) {
		t.Errorf("stderr = %q, want one Error line containing %q", stderr, want)
	}
}

func TestRlessErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing rootfs", []string{"run", "--rootfs", "/no/such/rootfs", "true"}, "no such file or directory"},
		{"rootfs is a file", []string{"run", "--rootfs", "/etc/passwd", "true"}, "not a directory"},
		{"unknown flag", []string{"run", "--no-such-flag", "--rootfs", "/", "true"}, "unknown flag: --no-such-flag"},
		{"no command", []string{"run", "--rootfs", "/"}, "no command"},
		{"unknown network", []string{"run", "--network", "bogus", "--rootfs", "/", "true"}, `--network "bogus": want slirp[:OPTIONS], none, host, slirp4netns[:OPTIONS] or pasta[:ARGS]`},
		{"missing image", []string{"--root", filepath.Join(workDir, "empty-store"), "run", "--pull=never", "alpine", "true"}, "alpine: image not known"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := takeSnapshot(t)
			r := run(t, c.args...)
			if r.code != 125 {
				t.Errorf("exit %d, want 125", r.code)
			}
			checkErrLine(t, r.stderr, c.want)
			assertClean(t, before)
		})
	}
}

func TestProcessSettings(t *testing.T) {
	before := takeSnapshot(t)
	flags := []string{"-e", "FOO=bar", "-e", "PATH=/bin", "--hostname", "box", "-w", "/tmp", "-u", "alice"}
	script := `echo "$FOO $PATH $HOME"; hostname; pwd; id`
	if len(subUIDs) == 0 {
		// Only the user's own id is mapped: other users cannot exist.
		r := runIn(t, flags, "sh", "-c", script)
		if r.code != 126 {
			t.Errorf("-u alice without a subordinate range: exit %d, want 126", r.code)
		}
		checkErrLine(t, r.stderr, "uid 1000 is outside the 1 uid mapped")
		flags = flags[:len(flags)-2]
		if got := mustRun(t, flags, "sh", "-c", script); got != "bar /bin /root\nbox\n/tmp\nuid=0(root) gid=0(root) groups=0(root)\n" {
			t.Errorf("got %q", got)
		}
	} else {
		want := "bar /bin /home/alice\nbox\n/tmp\nuid=1000(alice) gid=1000(alice) groups=10(wheel),1000(alice)\n"
		if got := mustRun(t, flags, "sh", "-c", script); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
		if got := mustRun(t, []string{"-u", "1:5"}, "id"); got != "uid=1(bin) gid=5(tty) groups=5(tty)\n" {
			t.Errorf("-u 1:5: id = %q", got)
		}
	}
	// The default hostname is the short container id, also in $HOSTNAME.
	got := strings.Fields(mustRun(t, nil, "sh", "-c", "hostname; echo $HOSTNAME"))
	if len(got) != 2 || len(got[0]) != 12 || got[0] != got[1] {
		t.Errorf("default hostname/HOSTNAME = %v, want the same 12-character id", got)
	}
	assertClean(t, before)
}

func TestFilesystems(t *testing.T) {
	before := takeSnapshot(t)
	out := mustRun(t, nil, "sh", "-c", "touch /written && echo ok; ls /dev; readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx; cat /proc/mounts")
	for _, want := range []string{"ok", "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "/proc/self/fd", "/proc/self/fd/0", "pts/ptmx",
		"proc /proc proc", "tmpfs /dev tmpfs", "devpts /dev/pts devpts", "mqueue /dev/mqueue mqueue", "/dev/shm tmpfs", "sysfs /sys sysfs ro,"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if _, err := os.Stat(rootfs + "/written"); err != nil {
		t.Errorf("the rootfs is not bound read-write: %v", err)
	}
	os.Remove(rootfs + "/written")
	if got := mustRun(t, nil, "sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c"); strings.TrimSpace(got) != "4" {
		t.Errorf("device nodes do not work: %q", got)
	}
	r := runIn(t, []string{"--read-only"}, "touch", "/x")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("--read-only: touch /x exit %d, stderr %q", r.code, r.stderr)
	}
	if got := mustRun(t, []string{"--read-only"}, "sh", "-c", "echo y > /dev/shm/y && cat /dev/shm/y"); got != "y\n" {
		t.Errorf("--read-only: /dev/shm not writable: %q", got)
	}
	// The host's root is not reachable: the old root is detached.
	if got := mustRun(t, nil, "sh", "-c", "cat /proc/self/mountinfo | wc -l; ls /"); strings.Contains(got, "rless-e2e") {
		t.Errorf("host paths visible: %s", got)
	}
	assertClean(t, before)
}

func TestLoopback(t *testing.T) {
	before := takeSnapshot(t)
	out := mustRun(t, []string{"--network", "none"}, "ip", "-o", "link")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "lo:") || !strings.Contains(lines[0], "UP") {
		t.Errorf("want only lo, up; got\n%s", out)
	}
	assertClean(t, before)
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestRunHostRoot: `run --rootfs /` runs on the host's root, bound
// read-only (pivot_root onto / itself would fail).
func TestRunHostRoot(t *testing.T) {
	r := run(t, "run", "--rootfs", "/", "sh", "-c", "test -x /usr/bin/env && echo host root; touch /usr/rless-x 2>/dev/null || echo read-only")
	if r.code != 0 || r.stdout != "host root\nread-only\n" {
		t.Errorf("run --rootfs /: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
}
