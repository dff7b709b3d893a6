// Package test holds rless's end-to-end tests: they build the rless binary
// and a busybox root filesystem, and run real containers as the calling
// (unprivileged) user. `make test` runs them as a user it creates when
// called as root.
package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rless/rless/internal/busybox"
	"github.com/rless/rless/pkg/userns"
)

var (
	rless   string // the rless binary under test
	rootfs  string // a busybox root filesystem
	runRoot string // the --runroot the tests use
	workDir string // temporary directory of the whole run
	subUIDs []userns.Range
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Getuid() == 0 && os.Getenv("RLESS_TEST_AS_ROOT") == "" {
		fmt.Fprintln(os.Stderr, "the end-to-end tests test rootless operation: run them as an unprivileged user (`make test` does this when run as root)")
		return 1
	}
	var err error
	workDir, err = os.MkdirTemp("", "rless-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	rless = os.Getenv("RLESS_BINARY")
	if rless == "" {
		rless = filepath.Join(workDir, "rless")
		out, err := exec.Command("../hack/build.sh", rless).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build rless: %v\n%s", err, out)
			return 1
		}
	}
	rootfs = filepath.Join(workDir, "rootfs")
	err = busybox.Rootfs(rootfs, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/bin/false\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n",
		"etc/group":  "root:x:0:\ntty:x:5:\nalice:x:1000:\nwheel:x:10:alice\n",
		"noexec.sh":  "#!/bin/sh\necho should not run\n",
		// rless binds its own over these (and makes none it lacks).
		"etc/hosts":       "127.0.0.1 from-the-rootfs\n",
		"etc/resolv.conf": "nameserver 192.0.2.253\n",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "build rootfs:", err)
		return 1
	}
	probe := filepath.Join(rootfs, "bin", "probe")
	if out, err := exec.Command("go", "build", "-o", probe, "./probe").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build probe: %v\n%s", err, out)
		return 1
	}
	runRoot = filepath.Join(workDir, "xdg", "rless")
	host, err := userns.DetectHost()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	subUIDs = host.SubUIDs
	defer stopRegistry()
	return m.Run()
}

// result is one finished rless invocation.
type result struct {
	stdout, stderr string
	code           int
}

// run runs rless with args (global flags first) and waits for it.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, rlessCmd(args...))
}

// runCmd runs cmd, an rless command, and waits for it.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// rlessCmd returns the command for rless with args, using the test run root.
func rlessCmd(args ...string) *exec.Cmd {
	return exec.Command(rless, append([]string{"--runroot", runRoot}, args...)...)
}

// runIn runs args (a command and its arguments) in a container on the test
// rootfs, with extra rless flags first.
func runIn(t *testing.T, flags []string, args ...string) result {
	t.Helper()
	all := append([]string{"run"}, flags...)
	all = append(all, "--rootfs", rootfs)
	return run(t, append(all, args...)...)
}

// mustRun is runIn that requires exit status 0 and returns stdout.
func mustRun(t *testing.T, flags []string, args ...string) string {
	t.Helper()
	r := runIn(t, flags, args...)
	if r.code != 0 {
		t.Fatalf("run %v %v: exit %d\nstdout: %s\nstderr: %s", flags, args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// snapshot is what the host looks like to the test user: its processes
// (and those of its subordinate ids), its mounts and the run root.
type snapshot struct {
	pids   map[int]string
	mounts string
	state  []string
}

func takeSnapshot(t *testing.T) snapshot {
	t.Helper()
	s := snapshot{pids: map[int]string{}}
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		if ours(string(status)) {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			s.pids[pid] = strings.ReplaceAll(string(cmdline), "\x00", " ")
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	s.mounts = string(mounts)
	states, _ := os.ReadDir(runRoot)
	for _, e := range states {
		if !strings.HasPrefix(e.Name(), ".") {
			s.state = append(s.state, e.Name())
		}
	}
	return s
}

// ours reports whether a /proc/PID/status belongs to the test user or one
// of its subordinate uids.
func ours(status string) bool {
	for _, line := range strings.Split(status, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			if uid == os.Getuid() {
				return true
			}
			for _, r := range subUIDs {
				if uint32(uid) >= r.Start && uint32(uid)-r.Start < r.Count {
					return true
				}
			}
		}
	}
	return false
}

// assertClean fails the test when something of a finished run is left on
// the host compared with before: a process, a mount or a state directory.
func assertClean(t *testing.T, before snapshot) {
	t.Helper()
	after := waitProcessesGone(t, before)
	if left := newPids(before, after); len(left) > 0 {
		t.Errorf("processes left after the run: %v", left)
	}
	if after.mounts != before.mounts {
		t.Errorf("host mounts changed:\nbefore:\n%s\nafter:\n%s", before.mounts, after.mounts)
	}
	if len(after.state) > 0 {
		t.Errorf("state left in %s: %v", runRoot, after.state)
	}
}

// waitProcessesGone gives the processes started since before up to five
// seconds to be gone (reaped by the kernel; the supervisor of detached
// containers ends two seconds after its last container) and returns the
// last snapshot.
func waitProcessesGone(t *testing.T, before snapshot) snapshot {
	t.Helper()
	var after snapshot
	for i := 0; i < 250; i++ {
		after = takeSnapshot(t)
		if len(newPids(before, after)) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return after
}

func newPids(before, after snapshot) []string {
	var left []string
	for pid, cmd := range after.pids {
		if _, ok := before.pids[pid]; !ok {
			left = append(left, fmt.Sprintf("%d (%s)", pid, cmd))
		}
	}
	return left
}
