package reference

import (
	"errors"
	"testing"

	dref "go.podman.io/image/v5/docker/reference"
)

var corpus = []string{
	"alpine", "alpine:3.20", "library/alpine", "docker.io/alpine", "index.docker.io/library/alpine:edge",
	"ghcr.io/owner/repo/sub:v1.2", "localhost/x", "localhost:5000/a/b", "127.0.0.1:5000/alpine:latest",
	"[::1]:5000/img", "quay.io/a__b/c.d-e:tag_1", "a-b--c/d", "Alpine", "docker.io/Alpine", "UPPER.io/x",
	"alpine@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"alpine:3@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"alpine@sha256:abc", "alpine:", ":tag", "", "a/", "/a", "a//b", "a..b", "a-", "-a", "a_.b", "a-.b",
	"a___b", "host:port/x", "host:/x", "x:-tag", "x:.tag", "x:" + string(make([]byte, 129)),
	"example.com/-bad/x", "exa_mple.com/x", "my-host.example.com:443/ns/img:1", "alpine:latest:again",
}

// TestAgainstContainersImage checks every corpus entry: accepted or
// refused as containers/image does, and normalised to the same string.
func TestAgainstContainersImage(t *testing.T) {
	for _, s := range corpus {
		want, werr := dref.ParseNormalizedNamed(s)
		got, gerr := Parse(s)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("Parse(%q): error %v; containers/image: %v", s, gerr, werr)
			continue
		}
		if werr != nil {
			if !errors.Is(gerr, ErrInvalid) {
				t.Errorf("Parse(%q): error %v does not wrap ErrInvalid", s, gerr)
			}
			continue
		}
		if w := dref.TagNameOnly(want).String(); got.String() != w {
			t.Errorf("Parse(%q) = %q; containers/image: %q", s, got, w)
		}
		if w := dref.FamiliarString(dref.TagNameOnly(want)); got.Familiar() != w {
			t.Errorf("Parse(%q).Familiar() = %q; containers/image: %q", s, got.Familiar(), w)
		}
	}
}

func TestIsShort(t *testing.T) {
	for s, want := range map[string]bool{
		"alpine": true, "library/alpine": true, "docker.io/alpine": false, "localhost/x": false,
		"host:5000/x": false, "a/b/c": true,
	} {
		if IsShort(s) != want {
			t.Errorf("IsShort(%q) = %v", s, !want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range corpus {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := dref.ParseNormalizedNamed(s)
		got, gerr := Parse(s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("Parse(%q): error %v; containers/image: %v", s, gerr, werr)
		}
		if werr == nil && got.String() != dref.TagNameOnly(want).String() {
			t.Fatalf("Parse(%q) = %q; containers/image: %q", s, got, dref.TagNameOnly(want))
		}
	})
}
