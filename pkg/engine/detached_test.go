package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/proc"
)

// TestDetachedInfoEnding: what a detached container's status reads in the
// moment between its first process's end and its monitor's record of it.
// The container package's state files are written here as a container's
// init leaves them; the monitor is this test's process (alive) or a
// process that has ended (killed).
func TestDetachedInfoEnding(t *testing.T) {
	runRoot := t.TempDir()
	e, err := Open(WithRoot(t.TempDir()), WithRunRoot(runRoot))
	if err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	d := &definition{ID: id, Name: "ending", Config: Config{Rootfs: "/", Command: []string{"sleep", "1"}}}
	if err := os.MkdirAll(e.defDir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.writeLast(id, lastRun{Running: true, Started: true, ExitCode: -1, Command: []string{"sleep", "1"}}); err != nil {
		t.Fatal(err)
	}
	// The container's first process: one that has ended.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(runRoot, id)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(specs.State{Version: specs.Version, ID: id, Status: specs.StateRunning, Pid: gone.Process.Pid})
	write(t, filepath.Join(stateDir, "state.json"), string(st))
	if err := os.MkdirAll(filepath.Dir(e.monitorPath(id, ".pid")), 0o700); err != nil {
		t.Fatal(err)
	}
	monitor := func(pid int) {
		start, err := proc.StartTime(pid)
		if err != nil {
			start = 1 // a process that has ended
		}
		write(t, e.monitorPath(id, ".pid"), fmt.Sprintf("%d %d x.sock\n", pid, start))
	}

	// The monitor alive, the exit status not recorded: still running,
	// not "Exited (-1)".
	monitor(os.Getpid())
	if info := e.detachedInfo(d, false); info.Status != Running || info.Pid != 0 {
		t.Errorf("ended, unrecorded, monitor alive: %s pid %d, want running pid 0", info.Status, info.Pid)
	}
	// The init recorded the exit status: stopped with it.
	write(t, filepath.Join(stateDir, "exit"), "3\n")
	if info := e.detachedInfo(d, false); info.Status != Stopped || info.ExitCode != 3 {
		t.Errorf("ended with 3, monitor alive: %s (%d)", info.Status, info.ExitCode)
	}
	// The monitor gone: killed, the container with it.
	os.Remove(filepath.Join(stateDir, "exit"))
	monitor(gone.Process.Pid)
	if info := e.detachedInfo(d, false); info.Status != Stopped || info.ExitCode != 137 {
		t.Errorf("monitor killed: %s (%d), want stopped (137)", info.Status, info.ExitCode)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
