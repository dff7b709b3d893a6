package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

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

// dfFixture: an image of two names that a stopped container uses, a
// nameless one, a running container, a stopped one, and two volumes, one
// mounted by two containers.
var dfFixture = engine.DiskUsage{
	Images: []engine.ImageDiskUsage{
		{Repository: "docker.io/library/alpine", Tag: "latest", ID: "c1a1da0643b37c7c", Size: 2415561, UniqueSize: 2415561, Containers: 1},
		{Repository: "localhost/alpine", Tag: "two", ID: "c1a1da0643b37c7c", Size: 2415561, UniqueSize: 2415561, Containers: 1},
		{Repository: "<none>", Tag: "<none>", ID: "520cfdf5d129d53a", Size: 1000000, UniqueSize: 1000000},
	},
	Containers: []engine.ContainerDiskUsage{
		{ID: "1ea24dee022a97cc", Name: "c1", ImageID: "c1a1da0643b37c7c", Command: []string{"sleep", "100"}, Status: engine.Running, Size: 100, LocalVolumes: 1},
		{ID: "60b9833c8d30150d", Name: "c2", ImageID: "c1a1da0643b37c7c", Command: []string{"true"}, Status: engine.Stopped, Size: 12, LocalVolumes: 1},
	},
	Volumes: []engine.VolumeDiskUsage{{Name: "v1", Links: 2, Size: 5}, {Name: "v2", Size: 300, Reclaimable: 300}},
}

func TestDfSummaries(t *testing.T) {
	rep, err := parseReport("df", "", dfDefaultRow)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.write(&buf, dfSummaries(dfFixture), nil, false); err != nil {
		t.Fatal(err)
	}
	want := "TYPE           TOTAL       ACTIVE      SIZE        RECLAIMABLE\n" +
		"Images         3           2           5.831MB     1MB (17%)\n" +
		"Containers     2           1           112B        12B (11%)\n" +
		"Local Volumes  2           2           305B        300B (98%)\n"
	if buf.String() != want {
		t.Errorf("system df:\n%s\nwant:\n%s", buf.String(), want)
	}
	// An empty store: podman's output for the parity case.
	rep, err = parseReport("df", "{{.Type}} {{.Total}} {{.Active}}", "")
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := rep.write(&buf, dfSummaries(engine.DiskUsage{}), nil, false); err != nil {
		t.Fatal(err)
	}
	if want := "Images 0 0\nContainers 0 0\nLocal Volumes 0 0\n"; buf.String() != want {
		t.Errorf("system df of nothing: %q, want %q", buf.String(), want)
	}
	if got := (&dfSummary{}).Reclaimable(); got != "0B (0%)" {
		t.Errorf("nothing reclaimable: %q", got)
	}
	buf.Reset()
	if err := writeJSON(&buf, dfSummaries(engine.DiskUsage{})[:1]); err != nil {
		t.Fatal(err)
	}
	if want := "[\n    {\n        \"Type\": \"Images\",\n        \"Total\": 0,\n        \"Active\": 0,\n        \"Size\": 0,\n        \"Reclaimable\": 0\n    }\n]\n"; buf.String() != want {
		t.Errorf("JSON: %s", buf.String())
	}
}

func TestWriteDfVerbose(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1700000000, 0)
	du := dfFixture
	du.Images = du.Images[:1]
	du.Images[0].Created = now.Add(-3 * 365 * 24 * time.Hour)
	du.Containers = du.Containers[1:]
	du.Containers[0].Created = now.Add(-2 * time.Second)
	if err := writeDfVerbose(&buf, du, now); err != nil {
		t.Fatal(err)
	}
	want := `Images space usage:

REPOSITORY                TAG         IMAGE ID      CREATED     SIZE        SHARED SIZE  UNIQUE SIZE  CONTAINERS
docker.io/library/alpine  latest      c1a1da0643b3  3 years     2.416MB     0B           2.416MB      1

Containers space usage:

CONTAINER ID  IMAGE         COMMAND     LOCAL VOLUMES  SIZE        CREATED     STATUS      NAMES
60b9833c8d30  c1a1da0643b3  true        1              12B         2 seconds   exited      c2

Local Volumes space usage:

VOLUME NAME  LINKS       SIZE
v1           2           5B
v2           0           300B
`
	if buf.String() != want {
		t.Errorf("system df -v:\n%s\nwant:\n%s", buf.String(), want)
	}
}
