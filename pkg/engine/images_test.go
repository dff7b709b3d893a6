package engine

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/vbatts/tar-split/tar/asm"
	tarstorage "github.com/vbatts/tar-split/tar/storage"
)

// TestTarSplitSize: the length a tar-split record gives is the tar
// stream's, padding after the end-of-archive marker included.
func TestTarSplitSize(t *testing.T) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, f := range []struct{ name, body string }{{"a", "hello\n"}, {"dir/b", strings.Repeat("x", 1000)}, {"empty", ""}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tarball.Write(make([]byte, 2048)) // padding past the end, as some writers add
	var record bytes.Buffer
	zw := gzip.NewWriter(&record)
	r, done, err := asm.NewInputTarStreamWithDone(bytes.NewReader(tarball.Bytes()), tarstorage.NewJSONPacker(zw), tarstorage.NewDiscardFilePutter())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := tarSplitSize(&record)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(tarball.Len()) {
		t.Errorf("tar-split size %d, the tar stream is %d bytes", n, tarball.Len())
	}
	if _, err := tarSplitSize(strings.NewReader("not gzip")); err == nil {
		t.Error("no error for a broken record")
	}
}

func TestMatchesReference(t *testing.T) {
	const digest = "sha256:aad585975a95cee3101c07402b2c922b33180d6c210bb8f84fc88c32a1375a54"
	img := Image{ID: "c1a1", Names: []string{"docker.io/library/alpine:latest", "quay.io/org/tool@" + digest}}
	for pattern, want := range map[string]bool{
		"alpine": true, "alpine:latest": true, "library/alpine": true, "library/alpine:latest": true,
		"docker.io/library/alpine": true, "docker.io/library/alpine:latest": true, "docker.io/library/*": true,
		"alp*": true, "tool": true, "org/tool@" + digest: true, "tool@sha256:*": true,
		"alpine:two": false, "docker.io/library/alpine:two": false, "busybox": false, "org": false,
	} {
		if got := matchesReference(img, pattern); got != want {
			t.Errorf("matchesReference(%q) = %v, want %v", pattern, got, want)
		}
	}
}

func TestRepoDigestsAndHistory(t *testing.T) {
	img := Image{Digest: "sha256:aad5", Names: []string{"localhost/b:1", "docker.io/library/a:latest", "localhost/b:2", "localhost/c@sha256:aad5"}}
	want := []string{"docker.io/library/a@sha256:aad5", "localhost/b@sha256:aad5", "localhost/c@sha256:aad5"}
	if got := repoDigests(img); !slices.Equal(got, want) {
		t.Errorf("repoDigests = %v, want %v", got, want)
	}
	if got := repoDigests(Image{Names: img.Names}); got == nil || len(got) != 0 {
		t.Errorf("repoDigests without a digest = %#v, want empty", got)
	}
	if got := namesHistory(img); !slices.Equal(got, []string{"localhost/c@sha256:aad5", "localhost/b:2", "docker.io/library/a:latest", "localhost/b:1"}) {
		t.Errorf("namesHistory = %v", got)
	}
}

func TestParentOf(t *testing.T) {
	base := Image{ID: "base", Layers: []string{"l1"}}
	child := Image{ID: "child", Layers: []string{"l1", "l2"}}
	sibling := Image{ID: "sibling", Layers: []string{"l1", "l3"}}
	imgs := []Image{base, child, sibling}
	if p := parentOf(child, imgs); p == nil || p.ID != "base" {
		t.Errorf("parent of child: %v", p)
	}
	if p := parentOf(base, imgs); p != nil {
		t.Errorf("parent of base: %v", p)
	}
	if !hasChild(base, imgs) || hasChild(child, imgs) {
		t.Error("hasChild wrong")
	}
}

func TestSplitTag(t *testing.T) {
	for name, want := range map[string][2]string{
		"docker.io/library/alpine:latest": {"docker.io/library/alpine", "latest"},
		"localhost:5000/a/b:v1":           {"localhost:5000/a/b", "v1"},
		"localhost:5000/a/b":              {"localhost:5000/a/b", "<none>"},
	} {
		if r, tag := splitTag(name); r != want[0] || tag != want[1] {
			t.Errorf("splitTag(%q) = %q, %q", name, r, tag)
		}
	}
}
