package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rless/rless/pkg/engine"
)

func TestPruneWarning(t *testing.T) {
	got := pruneWarning(engine.PruneSystemOptions{})
	want := "WARNING! This command removes:\n\t- all stopped containers\n\t- all dangling images\n\nAre you sure you want to continue? [y/N] "
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = pruneWarning(engine.PruneSystemOptions{All: true, Volumes: true})
	for _, s := range []string{"- all volumes not used by at least one container\n", "- all images without at least one container associated with them\n"} {
		if !strings.Contains(got, s) {
			t.Errorf("%q lacks %q", got, s)
		}
	}
	if strings.Contains(got, "dangling") {
		t.Errorf("-a: %q", got)
	}
}

func TestConfirmed(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "Yes\n": true, " y": true, "\n": false, "": false, "n\n": false, "no": false} {
		if got := confirmed(strings.NewReader(in)); got != want {
			t.Errorf("%q: %v", in, got)
		}
	}
}

func TestWritePruneReport(t *testing.T) {
	var b bytes.Buffer
	writePruneReport(&b, engine.PruneSystemReport{Containers: []string{"c1", "c2"}, Images: []string{"i1"}, Volumes: []string{"v1"}, Reclaimed: 1500000}, true)
	want := "Deleted Containers\nc1\nc2\nDeleted Volumes\nv1\nDeleted Images\ni1\nTotal reclaimed space: 1.5MB\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	writePruneReport(&b, engine.PruneSystemReport{}, false)
	if b.String() != "Total reclaimed space: 0B\n" {
		t.Errorf("nothing removed: %q", b.String())
	}
}
