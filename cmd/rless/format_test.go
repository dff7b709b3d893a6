package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rless/rless/pkg/engine"
)

type fmtItem struct {
	ID    string
	Value string
	Names []string
	Tags  map[string]string
}

func (i fmtItem) Upper() string { return strings.ToUpper(i.Value) }

var fmtItems = []fmtItem{
	{ID: "c061a0839e", Value: "one", Names: []string{"a", "b"}},
	{ID: "f10fc2e11057", Value: "two"},
	{ID: "1eb6fab5aa8f4b5cbfd3e66aa35e9b2a", Value: "three", Tags: map[string]string{"k": "v"}},
}

// render parses format with the default row and writes fmtItems.
func render(t *testing.T, format string, noHeading bool) (string, error) {
	t.Helper()
	r, err := parseReport("test", format, "{{.ID}}\t{{.Value}}")
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	err = r.write(&buf, fmtItems, map[string]string{"ID": "identity"}, noHeading)
	return buf.String(), err
}

func TestReportFormats(t *testing.T) {
	const table = "IDENTITY                          VALUE\n" +
		"c061a0839e                        one\n" +
		"f10fc2e11057                      two\n" +
		"1eb6fab5aa8f4b5cbfd3e66aa35e9b2a  three\n"
	for _, tc := range []struct{ format, want string }{
		// The default row, and "table" alone, under headers.
		{"", table},
		{"table", table},
		// A table of the user's: tabs, escaped tabs or spaces separate
		// the columns.
		{"table {{.ID}}\t{{.Value}}", table},
		{`table {{.ID}}\t{{.Value}}`, table},
		{"table {{.ID}} {{.Value}}", table},
		{`table {{.ID}}\t{{.Value}}\n`, table},
		{"table {{.Value}}", "VALUE\none\ntwo\nthree\n"},
		// The minimum column width is 12, the padding 2.
		{"table {{.Value}}\t{{.Value}}", "VALUE       VALUE\none         one\ntwo         two\nthree       three\n"},
		// Generic headers: the field's (or method's) name in words.
		{"table {{.Upper}} {{.Names}}", "UPPER       NAMES\nONE         [a b]\nTWO         []\nTHREE       []\n"},
		{"table {{.Value | upper}}", "VALUE\nONE\nTWO\nTHREE\n"},
		// A plain template: once per item, a newline added, no header, no
		// alignment.
		{"{{.ID}}", "c061a0839e\nf10fc2e11057\n1eb6fab5aa8f4b5cbfd3e66aa35e9b2a\n"},
		{"{{.ID}}\t{{.Value}}", "c061a0839e\tone\nf10fc2e11057\ttwo\n1eb6fab5aa8f4b5cbfd3e66aa35e9b2a\tthree\n"},
		{`{{.Value}}\t{{.Value}}\n`, "one\tone\ntwo\ttwo\nthree\tthree\n"},
		{`{{.Value}}\n\n`, "one\n\ntwo\n\nthree\n\n"},
		{"ID: {{.ID}}", "ID: c061a0839e\nID: f10fc2e11057\nID: 1eb6fab5aa8f4b5cbfd3e66aa35e9b2a\n"},
		// A template that ranges itself runs once.
		{"{{range .}}{{.Value}},{{end}}", "one,two,three,\n"},
		{`{{range .}}{{.Value}}{{end -}}`, "onetwothree"},
		// An escape that breaks the template is kept as it is.
		{`{{printf "\n"}}`, "\n\n\n"},
		// Functions.
		{`{{json .Names}}`, "[\"a\",\"b\"]\nnull\nnull\n"},
		{`{{json .Tags}}`, "null\nnull\n{\"k\":\"v\"}\n"},
		{`{{join .Names "+"}}`, "a+b\n\n\n"},
		{`{{.Value | upper}} {{upper .Value | lower}}`, "ONE one\nTWO two\nTHREE three\n"},
		{`{{truncate .ID 4}}`, "c061\nf10f\n1eb6\n"},
		{`{{title .Value}}`, "One\nTwo\nThree\n"},
		{`{{split .ID "0"}}`, "[c 61a 839e]\n[f1 fc2e11 57]\n[1eb6fab5aa8f4b5cbfd3e66aa35e9b2a]\n"},
		{`{{pad .Value 1 2}}|`, " one  |\n two  |\n three  |\n"},
		{`{{.Tags}}`, "map[]\nmap[]\nmap[k:v]\n"},
	} {
		got, err := render(t, tc.format, false)
		if err != nil || got != tc.want {
			t.Errorf("--format %q:\n%s(%v), want\n%s", tc.format, got, err, tc.want)
		}
	}
}

func TestReportNoHeading(t *testing.T) {
	got, err := render(t, "table {{.Value}}", true)
	if err != nil || got != "one\ntwo\nthree\n" {
		t.Errorf("--noheading: %q, %v", got, err)
	}
	// A plain template has no header anyway.
	got, err = render(t, "{{.Value}}", false)
	if err != nil || got != "one\ntwo\nthree\n" {
		t.Errorf("plain: %q, %v", got, err)
	}
}

func TestReportErrors(t *testing.T) {
	// An unknown field: the error as podman prints it, and no output.
	got, err := render(t, "table {{.Nope}}", false)
	if err == nil || got != "" || !strings.HasPrefix(err.Error(), "template: test:1:") || !strings.Contains(err.Error(), "can't evaluate field Nope") {
		t.Errorf("unknown field: %q, %v", got, err)
	}
	if _, err := render(t, "{{.Nope}}", false); err == nil {
		t.Error("unknown field in a plain template: no error")
	}
	// An unknown function or a broken template fails to parse.
	for _, f := range []string{"{{nope .ID}}", "{{.ID", "table {{if .ID}}"} {
		if _, err := parseReport("test", f, ""); err == nil || !strings.HasPrefix(err.Error(), "template: test:") {
			t.Errorf("--format %q: error %v", f, err)
		}
	}
	// exit status 125 for such errors, as podman.
	_, err = parseReport("test", "{{nope}}", "")
	if code := engine.ExitCode(err); code != 125 {
		t.Errorf("exit status %d, want 125", code)
	}
}

func TestIsJSONFormat(t *testing.T) {
	for f, want := range map[string]bool{
		"json": true, " json ": true, "{{json .}}": true, "{{ json . }}": true, "{{json}}": true,
		"": false, "table": false, "{{json .ID}}": false, "JSON": false, "jsonx": false,
	} {
		if isJSONFormat(f) != want {
			t.Errorf("isJSONFormat(%q) = %v", f, !want)
		}
	}
}

func TestHeaderName(t *testing.T) {
	over := map[string]string{"ID": "container id", "PodName": "podname"}
	for field, want := range map[string]string{
		"ID": "CONTAINER ID", "PodName": "PODNAME", "Names": "NAMES", "ImageID": "IMAGE ID",
		"CreatedAt": "CREATED AT", "RunningFor": "RUNNING FOR", "AutoRemove": "AUTO REMOVE",
		"HTTPServer": "HTTP SERVER", "PIDNS": "PIDNS", "Port8080": "PORT 8080", "State": "STATE",
		"IsInfra": "IS INFRA", "lower": "LOWER",
	} {
		if got := headerName(field, over); got != want {
			t.Errorf("headerName(%s) = %q, want %q", field, got, want)
		}
	}
}

func TestSplitCamel(t *testing.T) {
	for s, want := range map[string][]string{
		"":                nil,
		"lowercase":       {"lowercase"},
		"Class":           {"Class"},
		"MyClass":         {"My", "Class"},
		"MyC":             {"My", "C"},
		"HTML":            {"HTML"},
		"PDFLoader":       {"PDF", "Loader"},
		"AString":         {"A", "String"},
		"SimpleXMLParser": {"Simple", "XML", "Parser"},
		"vimRPCPlugin":    {"vim", "RPC", "Plugin"},
		"GL11Version":     {"GL", "11", "Version"},
		"99Bottles":       {"99", "Bottles"},
		"May5":            {"May", "5"},
		"BFG9000":         {"BFG", "9000"},
		"Two  spaces":     {"Two", "  ", "spaces"},
	} {
		if got := splitCamel(s); !reflect.DeepEqual(got, want) {
			t.Errorf("splitCamel(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestHeaderDataNested(t *testing.T) {
	r, err := parseReport("test", `table {{.A.B}} {{if .C}}{{.D}}{{end}} {{range .E}}{{.F}}{{end}} {{with .G}}x{{end}}`, "")
	if err != nil {
		t.Fatal(err)
	}
	got := headerData(r.tmpl, nil)
	want := map[string]any{"A": map[string]any{"B": "B"}, "C": "C", "D": "D", "E": "E", "F": "F", "G": "G"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headerData = %v, want %v", got, want)
	}
}

// imagesFixture is an image with two names, one without a tag, and a
// nameless one, as ListImages returns them.
var imagesFixture = []engine.ImageSummary{
	{
		ID: "c1a1da0643b37c7c0f94b621894bed063d3c7db5ef0892d6b16dff460e78cc2c", Created: 1700000000, Size: 2415561, VirtualSize: 2415561,
		RepoTags: []string{"docker.io/library/alpine:latest", "localhost/alpine@sha256:aad5", "localhost/other:v1"},
		Names:    []string{"docker.io/library/alpine:latest", "localhost/alpine@sha256:aad5", "localhost/other:v1"},
		History:  []string{"localhost/other:v1", "docker.io/library/alpine:latest"},
	},
	{ID: "520cfdf5d129d53a8fee539e2dd1707c6ec149e1fbb805dec36cda915ce63acf", Created: 1600000000, Size: 999, Dangling: true},
	{ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Created: 1500000000, Size: 1, RepoTags: []string{"localhost/bydigest@sha256:aad5"}},
}

// renderImages writes imagesFixture as images does with format.
func renderImages(t *testing.T, format string, noTrunc bool) string {
	t.Helper()
	rep, err := parseReport("images", format, imagesDefaultRow(false))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	now := time.Unix(1700000000, 0).Add(3 * 365 * 24 * time.Hour)
	if err := rep.write(&buf, imageRows(imagesFixture, noTrunc, now), imagesHeaders, false); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestImagesTable(t *testing.T) {
	want := "REPOSITORY                TAG         IMAGE ID      CREATED      SIZE\n" +
		"docker.io/library/alpine  latest      c1a1da0643b3  3 years ago  2.42 MB\n" +
		"localhost/other           v1          c1a1da0643b3  3 years ago  2.42 MB\n" +
		"<none>                    <none>      520cfdf5d129  6 years ago  999 B\n" +
		"localhost/bydigest        <none>      0123456789ab  9 years ago  1 B\n"
	if got := renderImages(t, "", false); got != want {
		t.Errorf("images:\n%s\nwant:\n%s", got, want)
	}
	// podman's output for this template.
	want = "REPOSITORY                TAG\ndocker.io/library/alpine  latest\n"
	rep, err := parseReport("images", "table {{.Repository}} {{.Tag}}", "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.write(&buf, imageRows(imagesFixture[:1], false, time.Now())[:1], imagesHeaders, false); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Errorf("table of repository and tag:\n%q\nwant:\n%q", buf.String(), want)
	}
}

func TestImagesTemplateFields(t *testing.T) {
	got := renderImages(t, "{{.Repository}}:{{.Tag}} {{.ID}} {{.Id}} {{.Size}} {{.VirtualSize}} {{.Created}} {{.History}} {{.Dangling}}", true)
	lines := strings.Split(got, "\n")
	want := "docker.io/library/alpine:latest sha256:c1a1da0643b37c7c0f94b621894bed063d3c7db5ef0892d6b16dff460e78cc2c c1a1da0643b37c7c0f94b621894bed063d3c7db5ef0892d6b16dff460e78cc2c 2.42 MB 2415561 3 years ago localhost/other:v1, docker.io/library/alpine:latest false"
	if len(lines) != 5 || lines[0] != want {
		t.Errorf("template:\n%s\nwant first line:\n%s", got, want)
	}
	if got := renderImages(t, "{{.CreatedAt}}", false); !strings.HasPrefix(got, time.Unix(1700000000, 0).String()+"\n") {
		t.Errorf("CreatedAt: %q", got)
	}
	if _, err := parseReport("images", "{{.NoSuch}}", ""); err != nil {
		t.Fatal(err)
	}
	rep, _ := parseReport("images", "{{.NoSuch}}", "")
	if err := rep.write(&bytes.Buffer{}, imageRows(imagesFixture, false, time.Now()), imagesHeaders, false); err == nil || !strings.Contains(err.Error(), "NoSuch") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestImageSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 2415561: "2.42 MB", 1982378: "1.98 MB", 7_000_000_000: "7 GB", 123456: "123 kB"} {
		if got := imageSize(n); got != want {
			t.Errorf("imageSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestImagesJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, imagesJSON(imageRows(imagesFixture[:1], false, time.Now()))); err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &objs); err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects, want one per tagged name: %s", len(objs), buf.String())
	}
	keys := slices.Sorted(maps.Keys(objs[0]))
	// podman 4.3's keys for an image with names and no labels.
	want := []string{"Containers", "Created", "CreatedAt", "Digest", "History", "Id", "Labels", "Names", "ParentId", "RepoDigests", "RepoTags", "SharedSize", "Size", "VirtualSize"}
	want = slices.DeleteFunc(want, func(k string) bool { return k == "Digest" }) // the fixture has none
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if objs[0]["Created"] != float64(1700000000) || objs[0]["RepoTags"] != nil {
		t.Errorf("Created %v, RepoTags %v", objs[0]["Created"], objs[0]["RepoTags"])
	}
	if _, err := time.Parse(time.RFC3339Nano, objs[0]["CreatedAt"].(string)); err != nil {
		t.Errorf("CreatedAt: %v", err)
	}
}

func TestWriteImageIDs(t *testing.T) {
	var buf bytes.Buffer
	writeImageIDs(&buf, imageRows(imagesFixture, false, time.Now()))
	if want := "c1a1da0643b3\n520cfdf5d129\n0123456789ab\n"; buf.String() != want {
		t.Errorf("IDs %q, want %q", buf.String(), want)
	}
}
