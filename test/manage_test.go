package test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rless/rless/internal/testimage"
	"go.podman.io/image/v5/oci/layout"
)

// imageID returns the ID of the one image named name in root.
func imageID(t *testing.T, root, name string) string {
	t.Helper()
	return strings.TrimSpace(mustImg(t, root, "images", "-q", "--no-trunc", name).stdout)
}

func TestPullTransports(t *testing.T) {
	registry(t)
	root := imageStore(t)
	want := strings.TrimSpace(mustImg(t, root, "pull", "-q", "alpine").stdout)
	src, err := layout.ParseReference(regLayout.Dir + ":" + layoutTag(alpineRef))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct{ dest, pull, name string }{
		{"oci-archive:" + filepath.Join(dir, "a.tar"), "oci-archive:" + filepath.Join(dir, "a.tar"), "localhost/a:latest"},
		{"docker-archive:" + filepath.Join(dir, "d.tar") + ":docker.io/library/alpine:3", "docker-archive:" + filepath.Join(dir, "d.tar"), "docker.io/library/alpine:3"},
		{"dir:" + filepath.Join(dir, "plain"), "dir:" + filepath.Join(dir, "plain"), "localhost/plain:latest"},
		{"", "oci:" + regLayout.Dir + ":" + layoutTag(alpineRef), "localhost/layout:" + layoutTag(alpineRef)},
	} {
		if c.dest != "" {
			if err := testimage.CopyRef(context.Background(), src, c.dest); err != nil {
				t.Fatalf("copy to %s: %v", c.dest, err)
			}
		}
		r := mustImg(t, root, "pull", c.pull)
		if !strings.Contains(r.stderr, "skipped: already exists") {
			t.Errorf("pull %s fetched layers the store has:\n%s", c.pull, r.stderr)
		}
		if got := strings.TrimSpace(r.stdout); got != want {
			t.Errorf("pull %s: image %s, want %s", c.pull, got, want)
		}
		if out := mustImg(t, root, "images", "--format", "{{.Names}}").stdout; !strings.Contains(out, c.name) {
			t.Errorf("after pull %s, names %s lack %s", c.pull, out, c.name)
		}
	}
}

func TestPullPlatform(t *testing.T) {
	registry(t)
	root := imageStore(t)
	for _, arch := range []string{"arm64", "amd64"} {
		r := mustImg(t, root, "pull", "--arch", arch, regAddr+"/"+multiarchRef)
		id := strings.TrimSpace(r.stdout)
		var img storedImage
		for _, i := range listImages(t, root) {
			if i.ID == id {
				img = i
			}
		}
		if len(img.Layers) != 1 {
			t.Fatalf("pulled %s: %+v", arch, img)
		}
		got, err := os.ReadFile(filepath.Join(diffDir(root, img.Layers[0]), "etc/platform"))
		if err != nil || string(got) != arch+"\n" {
			t.Errorf("--arch %s pulled the image of %q (%v)", arch, got, err)
		}
	}
	if r := rlessImg(t, root, "pull", "--platform", "linux/s390x", regAddr+"/"+multiarchRef); r.code != 125 || !strings.Contains(r.stderr, "s390x") {
		t.Errorf("pull of a missing platform: exit %d\n%s", r.code, r.stderr)
	}
}

func TestImageManagement(t *testing.T) {
	registry(t)
	root := imageStore(t)
	alpine := strings.TrimSpace(mustImg(t, root, "pull", "-q", "alpine").stdout)
	shared := strings.TrimSpace(mustImg(t, root, "pull", "-q", regAddr+"/"+sharedRef).stdout)
	layers := func() int {
		entries, _ := os.ReadDir(filepath.Join(root, "layers"))
		n := 0
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
		return n
	}
	if n := layers(); n != 3 {
		t.Errorf("%d layers stored for two images sharing their base, want 3", n)
	}

	mustImg(t, root, "tag", "alpine", "myalpine:v1")
	if id := imageID(t, root, "localhost/myalpine:v1"); id != "sha256:"+alpine {
		t.Errorf("tagged name finds %q, want %s", id, alpine)
	}
	if out := mustImg(t, root, "rmi", "myalpine:v1").stdout; out != "Untagged: localhost/myalpine:v1\n" {
		t.Errorf("rmi of one of two names: %q", out)
	}
	if r := rlessImg(t, root, "rmi", "nosuchimage"); r.code != 1 || r.stderr != "Error: nosuchimage: image not known\n" {
		t.Errorf("rmi of an unknown image: exit %d, %q", r.code, r.stderr)
	}

	// Moving alpine's name to the other image leaves alpine's nameless;
	// prune removes it and its own layer, not the shared base.
	mustImg(t, root, "tag", shared, "docker.io/library/alpine:latest")
	if out := mustImg(t, root, "images").stdout; !strings.Contains(out, "<none>") {
		t.Errorf("no dangling image after the name moved:\n%s", out)
	}
	if out := mustImg(t, root, "image", "prune").stdout; out != alpine+"\n" {
		t.Errorf("image prune: %q, want %s", out, alpine)
	}
	if n := layers(); n != 2 {
		t.Errorf("%d layers after prune, want 2", n)
	}
	df := mustImg(t, root, "system", "df").stdout
	if !strings.Contains(df, "Images") || !strings.Contains(df, "Local Volumes") {
		t.Errorf("system df:\n%s", df)
	}
	if out := mustImg(t, root, "rmi", "alpine").stdout; out != "Untagged: docker.io/library/alpine:latest\n" {
		t.Errorf("rmi alpine (one of two names): %q", out)
	}
	mustImg(t, root, "tag", shared, "second:tag")
	if r := rlessImg(t, root, "rmi", shared[:12]); r.code != 125 || !strings.Contains(r.stderr, "several names") {
		t.Errorf("rmi by ID of an image with two names: exit %d %s", r.code, r.stderr)
	}
	out := mustImg(t, root, "rmi", "-f", shared[:12]).stdout
	if !strings.Contains(out, "Deleted: "+shared) {
		t.Errorf("rmi -f: %q", out)
	}
	if n := layers(); n != 0 {
		t.Errorf("%d layers after removing every image", n)
	}
	if out := mustImg(t, root, "images", "-q").stdout; out != "" {
		t.Errorf("images after removing all: %q", out)
	}
}

func TestSaveLoad(t *testing.T) {
	registry(t)
	root := imageStore(t)
	id := strings.TrimSpace(mustImg(t, root, "pull", "-q", regAddr+"/"+multiRef).stdout)
	mustImg(t, root, "tag", id, "second:v2")
	shared := strings.TrimSpace(mustImg(t, root, "pull", "-q", regAddr+"/"+sharedRef).stdout)
	dir := t.TempDir()
	docker, oci := filepath.Join(dir, "d.tar"), filepath.Join(dir, "o.tar")
	mustImg(t, root, "save", "-o", docker, regAddr+"/"+multiRef, shared[:12])
	mustImg(t, root, "save", "--format", "oci-archive", "-o", oci, id[:12])
	if r := rlessImg(t, root, "save", "--format", "oci-archive", "-o", oci, id, shared); r.code != 125 {
		t.Errorf("oci-archive of two images: exit %d", r.code)
	}
	for _, c := range []struct {
		file, want string
		ids        []string
	}{
		{docker, "Loaded image: " + regAddr + "/" + multiRef + "\nLoaded image: " + regAddr + "/" + sharedRef + "\n", []string{id, shared}},
		{oci, "Loaded image: " + regAddr + "/" + multiRef + "\n", []string{id}},
	} {
		fresh := imageStore(t)
		r := mustImg(t, fresh, "load", "-q", "-i", c.file)
		if r.stdout != c.want {
			t.Errorf("load %s: %q, want %q", filepath.Base(c.file), r.stdout, c.want)
		}
		var ids []string
		for _, img := range listImages(t, fresh) {
			ids = append(ids, img.ID)
		}
		slices.Sort(ids)
		slices.Sort(c.ids)
		if !slices.Equal(ids, c.ids) {
			t.Fatalf("loaded %v, want %v", ids, c.ids)
		}
		checkStoreWhole(t, fresh)
	}
	// stdin and stdout
	fresh := imageStore(t)
	save := imgCmd(root, "save", "second:v2")
	load := imgCmd(fresh, "load")
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	load.Stdin = pipe
	var out strings.Builder
	load.Stdout = &out
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	if err := load.Run(); err != nil {
		t.Fatalf("load from stdin: %v", err)
	}
	if err := save.Wait(); err != nil {
		t.Fatalf("save to stdout: %v", err)
	}
	if out.String() != "Loaded image: localhost/second:v2\n" {
		t.Errorf("load from a pipe: %q", out.String())
	}
}
