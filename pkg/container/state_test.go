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

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestStateDirectories: a state directory appears complete, under its id,
// or not at all; List sees it; removeStale removes what dead rless
// processes left, whether complete or half-made, and nothing else.
func TestStateDirectories(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run")
	is := initSpec{spec: fullSpec(t)}
	b, err := createBundle(filepath.Join(root, "live"), is, "live", 1)
	if err != nil {
		t.Fatal(err)
	}
	var st specs.State
	if data, err := os.ReadFile(filepath.Join(root, "live", "state.json")); err != nil || json.Unmarshal(data, &st) != nil {
		t.Fatalf("state.json: %s %v", data, err)
	}
	if st.Bundle != b.dir || b.dir != filepath.Join(root, "live") || st.ID != "live" || st.Status != specs.StateCreating {
		t.Errorf("bundle in %s, state %+v", b.dir, st)
	}
	if _, err := createBundle(filepath.Join(root, "live"), is, "live", 1); err == nil || !strings.Contains(err.Error(), "container live exists already") {
		t.Errorf("a second container of the same id: %v", err)
	}
	if live, err := List(root); err != nil || len(live) != 1 || live[0].ID != "live" || live[0].Spec.Hostname != "h" {
		t.Errorf("List: %+v %v", live, err)
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	d, err := createBundle(filepath.Join(root, "dead"), is, "dead", 1)
	if err != nil {
		t.Fatal(err)
	}
	// As a rless whose process has exited would have left it.
	if err := writeJSON(filepath.Join(d.dir, "state.json"), map[string]any{"annotations": map[string]string{annotationMonitor: fmt.Sprint(dead.Process.Pid)}}); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(root, fmt.Sprintf("%s%d-%s", tmpPrefix, dead.Process.Pid, "half"))
	making := filepath.Join(root, fmt.Sprintf("%s%d-%s", tmpPrefix, os.Getppid(), "making"))
	cache := filepath.Join(root, ".seccomp")
	for _, dir := range []string{half, making, cache} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if live, _ := List(root); len(live) != 1 {
		t.Errorf("List sees a dead rless's container: %+v", live)
	}
	removeStale(root)
	for _, gone := range []string{d.dir, half} {
		if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there: %v", gone, err)
		}
	}
	for _, kept := range []string{b.dir, making, cache} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s went: %v", kept, err)
		}
	}
}
