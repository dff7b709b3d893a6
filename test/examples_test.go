package test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
}
