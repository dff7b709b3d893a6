package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

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
