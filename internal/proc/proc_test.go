package proc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Error("this process is not alive")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	cmd.Wait()
	if Alive(pid) {
		t.Errorf("reaped process %d is alive", pid)
	}

	// A zombie: ended, not yet waited for. Its pid exists (kill(pid, 0)
	// succeeds) but it is not alive.
	cmd = exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid = cmd.Process.Pid
	state := ""
	for i := 0; i < 500 && state != "Z"; i++ {
		if state = procState(t, pid); state != "Z" {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if state != "Z" {
		t.Fatalf("process %d is in state %q after 5 s, not a zombie", pid, state)
	}
	if Alive(pid) {
		t.Errorf("zombie process %d is alive", pid)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("wait for the zombie: %v", err)
	}
}

// procState returns the state letter of /proc/PID/stat.
func procState(t *testing.T, pid int) string {
	t.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The state follows the command name, which is in parentheses.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) == 0 {
		t.Fatalf("/proc/%d/stat: %q", pid, stat)
	}
	return f[0]
}

func TestRunning(t *testing.T) {
	start, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !Running(os.Getpid(), start) || !Running(os.Getpid(), 0) {
		t.Error("this process is not running")
	}
	if Running(os.Getpid(), start+1) {
		t.Error("a process started at another time is taken for this one")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if Running(cmd.Process.Pid, 0) || Running(0, 0) {
		t.Error("a reaped process, or pid 0, is running")
	}
}

func TestStartAndState(t *testing.T) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	f, err := statFields(data)
	if err != nil {
		t.Fatal(err)
	}
	start, state, err := startAndState(data)
	if err != nil || strconv.FormatUint(start, 10) != f[19] || state != f[0][0] {
		t.Errorf("startAndState: %d %c %v; statFields: %s %s", start, state, err, f[19], f[0])
	}
	// A command name with spaces and parentheses, a trailing newline.
	start, state, err = startAndState([]byte("42 (a) b) (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20\n"))
	if err != nil || start != 777 || state != 'S' {
		t.Errorf("odd name: %d %c %v", start, state, err)
	}
	if _, _, err := startAndState([]byte("42 (x) S 1 2")); err == nil {
		t.Error("no error for a short line")
	}
	if _, _, err := startAndState([]byte("42 x S")); err == nil {
		t.Error("no error without a command name")
	}
}

func TestAwaitExit(t *testing.T) {
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	AwaitExit(cmd.Process.Pid)
	// The child has ended, and is left to reap.
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil)
	if err != nil || pid != cmd.Process.Pid || !ws.Exited() {
		t.Errorf("after AwaitExit, wait4 WNOHANG: pid %d, %v, status %v", pid, err, ws)
	}
}
