package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rless/rless/internal/testenv"
)

// TestPullDiskFull: a pull into a store on a full filesystem fails saying
// so (not as a corrupt blob), naming the store; it keeps nothing of what it
// wrote, and a later pull into the same store works.
func TestPullDiskFull(t *testing.T) {
	registry(t)
	root := imageStoreIn(t, testenv.SmallFS(t))
	r := rlessImg(t, root, "pull", "-q", regAddr+"/"+bigRef)
	if r.code != 125 || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, root) {
		t.Fatalf("pull onto a full disk: exit %d, want 125 and %q naming %s:\n%s", r.code, "no space left on device", root, r.stderr)
	}
	if strings.Contains(r.stderr, "digest") || strings.Count(r.stderr, "Error:") != 1 {
		t.Errorf("pull onto a full disk: want one error line on the disk:\n%s", r.stderr)
	}
	if out := mustImg(t, root, "images", "-q").stdout; out != "" {
		t.Errorf("images after the failed pull: %q", out)
	}
	// What the pull wrote is gone: the small filesystem has room again.
	var used int64
	_ = filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			used += fi.Size()
		}
		return nil
	})
	if used > 1<<20 {
		t.Errorf("the failed pull left %d bytes in the store", used)
	}
	if r := rlessImg(t, root, "pull", "-q", "alpine"); r.code != 0 {
		t.Fatalf("a later pull into the same store: exit %d\n%s", r.code, r.stderr)
	}
	if r := rlessImg(t, root, "run", "--rm", "alpine", "cat", "/etc/alpine-release"); r.code != 0 || r.stdout != alpineFile {
		t.Errorf("run after the pull: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
}
