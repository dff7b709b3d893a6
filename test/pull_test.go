package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rless/rless/pkg/terminal"
)

var idRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// storedImage is the part of `rless images --format json` the tests read.
type storedImage struct {
	ID     string   `json:"id"`
	Names  []string `json:"names"`
	Layers []string `json:"-"` // from image inspect
}

func listImages(t *testing.T, root string) []storedImage {
	t.Helper()
	r := mustImg(t, root, "images", "--format", "json")
	var imgs []storedImage
	if err := json.Unmarshal([]byte(r.stdout), &imgs); err != nil {
		t.Fatalf("images --format json: %v\n%s", err, r.stdout)
	}
	// podman's JSON has no layers: image inspect has them.
	for i := range imgs {
		out := mustImg(t, root, "image", "inspect", "--format", "{{json .RootFS.Layers}}", imgs[i].ID).stdout
		if err := json.Unmarshal([]byte(out), &imgs[i].Layers); err != nil {
			t.Fatalf("image inspect %s: %v\n%s", imgs[i].ID, err, out)
		}
	}
	return imgs
}

func diffDir(root, diffID string) string {
	return filepath.Join(root, "layers", strings.TrimPrefix(diffID, "sha256:"), "diff")
}

func TestPullShortNameThroughMirror(t *testing.T) {
	registry(t)
	root := imageStore(t)
	before := takeSnapshot(t)
	r := mustImg(t, root, "pull", "alpine")
	id := strings.TrimSpace(r.stdout)
	if !idRE.MatchString(id) {
		t.Fatalf("pull printed %q, want an image ID", r.stdout)
	}
	for _, want := range []string{"Trying to pull docker.io/library/alpine:latest...", "Copying blob", "Writing manifest"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("pull's progress lacks %q:\n%s", want, r.stderr)
		}
	}
	assertClean(t, before)
	imgs := listImages(t, root)
	if len(imgs) != 1 || imgs[0].ID != id || len(imgs[0].Names) != 1 || imgs[0].Names[0] != "docker.io/library/alpine:latest" {
		t.Fatalf("images: %+v", imgs)
	}
	top := imgs[0].Layers[len(imgs[0].Layers)-1]
	if got, err := os.ReadFile(filepath.Join(diffDir(root, top), "etc/alpine-release")); err != nil || string(got) != alpineFile {
		t.Errorf("etc/alpine-release in the top layer: %q, %v", got, err)
	}
	out := mustImg(t, root, "images").stdout
	if !strings.Contains(out, "docker.io/library/alpine") || !strings.Contains(out, id[:12]) {
		t.Errorf("images:\n%s", out)
	}
	if q := mustImg(t, root, "images", "-q").stdout; q != id[:12]+"\n" {
		t.Errorf("images -q: %q", q)
	}
	var inspected []map[string]any
	if err := json.Unmarshal([]byte(mustImg(t, root, "image", "inspect", "alpine").stdout), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	if rootfs, ok := inspected[0]["RootFS"].(map[string]any); !ok || inspected[0]["Id"] != id || len(rootfs["Layers"].([]any)) != len(imgs[0].Layers) {
		t.Errorf("image inspect: %v", inspected[0])
	}
	if cmd := mustImg(t, root, "image", "inspect", "--format", "{{.Id}} {{.Config.Cmd}} {{index .RepoTags 0}}", "alpine").stdout; cmd != id+" [/bin/sh] docker.io/library/alpine:latest\n" {
		t.Errorf("image inspect --format: %q", cmd)
	}
	// A second pull fetches nothing.
	r = mustImg(t, root, "pull", "alpine")
	if strings.TrimSpace(r.stdout) != id || strings.Count(r.stderr, "skipped: already exists") != len(imgs[0].Layers) {
		t.Errorf("second pull: %s\n%s", r.stdout, r.stderr)
	}
}

// overlayView mounts the layers of image ref (from root) as overlayfs in
// the user namespace, the way containers will see them, and runs script
// there with $M the merged tree.
func overlayView(t *testing.T, root string, layers []string, script string) string {
	t.Helper()
	var lower []string
	for i := len(layers) - 1; i >= 0; i-- {
		lower = append(lower, diffDir(root, layers[i]))
	}
	mnt := t.TempDir()
	sh := fmt.Sprintf("mount -t overlay -o userxattr,lowerdir=%s overlay %s && M=%s && %s", strings.Join(lower, ":"), mnt, mnt, script)
	r := run(t, "--root", root, "unshare", "sh", "-ec", sh)
	if r.code != 0 {
		t.Fatalf("overlay view: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestPullMultiLayer(t *testing.T) {
	registry(t)
	root := imageStore(t)
	before := takeSnapshot(t)
	r := mustImg(t, root, "pull", regAddr+"/"+multiRef)
	assertClean(t, before)
	if strings.Contains(r.stderr, "WARN") != (len(subUIDs) == 0) {
		t.Errorf("ownership warning (range: %v):\n%s", len(subUIDs) > 0, r.stderr)
	}
	imgs := listImages(t, root)
	if len(imgs) != 1 || len(imgs[0].Layers) != 3 {
		t.Fatalf("images: %+v", imgs)
	}
	layers := imgs[0].Layers
	got := overlayView(t, root, layers, `
ls -A $M/data | tr '\n' ' '; echo
ls -A $M/opaque | tr '\n' ' '; echo
test -e $M/bin/vi && echo vi present || echo vi gone
test -e $M/bin/sh && echo sh present
stat -c '%a %i' $M/data/setuid $M/data/hard1 $M/data/hard2 | tr '\n' ' '; echo
cat $M/home/alice/owned
`)
	lines := strings.Split(got, "\n")
	want := []string{"hard1 hard2 keep setuid ", "new ", "vi gone", "sh present"}
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			t.Errorf("overlay view line %d: %q, want %q\n%s", i, lines[min(i, len(lines)-1)], w, got)
		}
	}
	if f := strings.Fields(lines[4]); len(f) != 6 || f[0] != "4755" || f[3] != f[5] {
		t.Errorf("setuid mode and hardlink inodes: %q", lines[4])
	}
	// On the host, uid 1234 of the image is subordinate uid start+1233
	// (home/alice is 0700, so its own owner is what the host user sees).
	owned := filepath.Join(diffDir(root, layers[1]), "home/alice")
	st := statOwner(t, owned)
	wantUID := uint32(os.Getuid())
	if len(subUIDs) > 0 {
		wantUID = subUIDs[0].Start + multilayerUID - 1
	}
	if st != wantUID {
		t.Errorf("owner of %s on the host: %d, want %d", owned, st, wantUID)
	}
}

// TestPullProgressBars: on a terminal, pull draws a bar per layer (mpb).
func TestPullProgressBars(t *testing.T) {
	registry(t)
	root := imageStore(t)
	t.Setenv("CONTAINERS_REGISTRIES_CONF", regConf)
	p := startPTY(t, terminal.Size{Rows: 24, Cols: 100}, "--root", root, "pull", regAddr+"/"+multiRef)
	if code := p.wait(t); code != 0 {
		t.Fatalf("pull on a terminal: exit %d\n%s", code, p.output())
	}
	out := p.output()
	// A bar line ends in "done" once its layer is in; plain lines do not.
	if strings.Count(out, "done") < 3 || !strings.Contains(out, "Copying blob") {
		t.Errorf("no progress bars on a terminal:\n%q", out)
	}
}
