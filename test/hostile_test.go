package test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rless/rless/internal/hostile"
	"github.com/rless/rless/internal/testimage"
)

// TestHostileImages pulls one image per hostile-layer case from the
// registry. Each is refused (exit 125, the error naming the entry, the
// store as it was) or neutralised (exit 0 with a warning); a canary file
// beside the store is untouched after every case.
func TestHostileImages(t *testing.T) {
	registry(t)
	dir := t.TempDir()
	canary := filepath.Join(dir, "canary")
	const content = "canary\n"
	if err := os.WriteFile(canary, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(canary, &before); err != nil {
		t.Fatal(err)
	}
	root := imageStoreIn(t, dir)
	mustImg(t, root, "pull", "-q", regAddr+"/"+multiarchRef) // a store with something in it
	l, err := testimage.NewLayout(filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range hostile.Cases(canary) {
		t.Run(c.Name, func(t *testing.T) {
			var layers []testimage.Layer
			for _, tar := range c.Layers {
				layers = append(layers, testimage.Layer{Tar: tar})
			}
			d, err := l.Add(testimage.Image{Layers: layers})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Tag(d, c.Name); err != nil {
				t.Fatal(err)
			}
			ref := regAddr + "/rless/hostile-" + c.Name + ":latest"
			if err := l.Copy(context.Background(), c.Name, "docker://"+ref); err != nil {
				t.Fatal(err)
			}
			listing := storeListing(t, root)
			r := rlessImg(t, root, "pull", ref)
			t.Logf("exit %d\n%s", r.code, r.stderr)
			switch {
			case c.Refused && r.code != 125:
				t.Errorf("refused case pulled: exit %d\n%s", r.code, r.stderr)
			case c.Refused && !strings.Contains(r.stderr, "Error: "):
				t.Errorf("no error line:\n%s", r.stderr)
			case c.Refused && storeListing(t, root) != listing:
				t.Errorf("store changed by a refused pull:\nbefore:\n%s\nafter:\n%s", listing, storeListing(t, root))
			case !c.Refused && r.code != 0:
				t.Errorf("neutralised case failed: exit %d\n%s", r.code, r.stderr)
			}
			if c.Refused && !strings.Contains(r.stderr, `layer entry "`) && !strings.Contains(r.stderr, "read layer") {
				t.Errorf("the error does not name the entry:\n%s", r.stderr)
			}
			if !c.Refused && r.code == 0 && c.Check != nil {
				var dirs []string
				for _, img := range listImages(t, root) {
					if len(img.Layers) == len(c.Layers) && strings.Contains(strings.Join(img.Names, " "), "hostile-"+c.Name+":") {
						for _, l := range img.Layers {
							dirs = append(dirs, diffDir(root, l))
						}
					}
				}
				if err := c.Check(dirs); err != nil {
					t.Errorf("check: %v", err)
				}
			}
			var after syscall.Stat_t
			got, rerr := os.ReadFile(canary)
			if err := syscall.Stat(canary, &after); err != nil || rerr != nil || !bytes.Equal(got, []byte(content)) ||
				after.Mode != before.Mode || after.Ino != before.Ino || after.Nlink != before.Nlink || after.Mtim != before.Mtim {
				t.Fatalf("canary changed: %q %v, stat %+v (was %+v)", got, rerr, after, before)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if n := e.Name(); n != "canary" && n != "layout" && n != "store" {
					t.Errorf("new file beside the store: %s", n)
				}
			}
		})
	}
}
