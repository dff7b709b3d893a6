package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestStateDirectories: a state directory appears complete, under its id,
// or not at all; List sees it with its status; removeStale removes what
// dead foreground rless processes left, whether complete or half-made,
// and nothing else: a stopped container that is not auto-removed stays
// until Delete.
func TestStateDirectories(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run")
	is := initSpec{spec: fullSpec(t)}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	live := &stateDir{dir: filepath.Join(root, "live"), id: "live", bundle: "/b", created: time.Now()}
	if err := live.create(is, sleeper.Process.Pid, true); err != nil {
		t.Fatal(err)
	}
	var st specs.State
	if data, err := os.ReadFile(filepath.Join(root, "live", stateFile)); err != nil || json.Unmarshal(data, &st) != nil {
		t.Fatalf("state.json: %s %v", data, err)
	}
	if st.Bundle != "/b" || st.ID != "live" || st.Status != specs.StateCreating || st.Pid != sleeper.Process.Pid {
		t.Errorf("state %+v", st)
	}
	if fi, err := os.Stat(filepath.Join(root, "live", startFifo)); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("start fifo: %v %v", fi, err)
	}
	if err := live.create(is, 1, false); err == nil || !strings.Contains(err.Error(), "container live exists already") {
		t.Errorf("a second container of the same id: %v", err)
	}
	if err := live.setState(Running, sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if all, err := List(root); err != nil || len(all) != 1 || all[0].ID != "live" || all[0].Status != Running || all[0].Spec.Hostname != "h" {
		t.Errorf("List: %+v %v", all, err)
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	// A foreground container whose rless died, and one that is kept until
	// deleted, whose init died.
	fg := &stateDir{dir: filepath.Join(root, "fg"), id: "fg", autoRemove: true}
	kept := &stateDir{dir: filepath.Join(root, "kept"), id: "kept"}
	for _, d := range []*stateDir{fg, kept} {
		if err := d.create(is, dead.Process.Pid, false); err != nil {
			t.Fatal(err)
		}
		if err := d.setState(Running, dead.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	// As the foreground rless, whose process has exited, would have left it.
	if err := writeJSON(filepath.Join(fg.dir, stateFile), map[string]any{"id": "fg", "status": "running", "pid": dead.Process.Pid,
		"annotations": map[string]string{annotationCreator: fmt.Sprint(dead.Process.Pid), annotationAutoRemove: "true"}}); err != nil {
		t.Fatal(err)
	}
	writeExit(kept.dir, 3)
	half := filepath.Join(root, fmt.Sprintf("%s%d-%s", tmpPrefix, dead.Process.Pid, "half"))
	making := filepath.Join(root, fmt.Sprintf("%s%d-%s", tmpPrefix, os.Getppid(), "making"))
	cache := filepath.Join(root, ".seccomp")
	for _, dir := range []string{half, making, cache} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := List(root)
	if len(all) != 2 || all[0].ID != "kept" || all[0].Status != Stopped || all[0].ExitCode != 3 || all[1].ID != "live" {
		t.Errorf("List: %+v", all)
	}
	removeStale(root)
	for _, gone := range []string{fg.dir, half} {
		if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there: %v", gone, err)
		}
	}
	for _, dir := range []string{live.dir, kept.dir, making, cache} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s went: %v", dir, err)
		}
	}
	c, err := Load(root, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := c.Wait(t.Context()); code != 3 || err != nil {
		t.Errorf("Wait of a stopped container: %d %v", code, err)
	}
	if err := c.Delete(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root, "kept"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Load of a deleted container: %v", err)
	}
	if _, err := Load(root, "../live"); err == nil {
		t.Errorf("Load of a path: no error")
	}
	c, err = Load(root, "live")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), false); !errors.Is(err, ErrRunning) {
		t.Errorf("Delete of a running container: %v", err)
	}
}
