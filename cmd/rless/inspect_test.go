package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rless/rless/pkg/engine"
)

var inspected = &engine.InspectData{
	ID:    "d716b7a5144c",
	Name:  "web",
	State: &engine.InspectState{Status: "exited", ExitCode: 143},
	Config: &engine.InspectConfig{
		Labels: map[string]string{"a": "b"},
	},
	NetworkSettings: &engine.InspectNetworkSettings{
		Ports: map[string][]engine.InspectHostPort{"80/tcp": {{HostPort: "8080"}}},
	},
	HostConfig: &engine.InspectHostConfig{RestartPolicy: &engine.InspectRestartPolicy{Name: "no"}},
	Mounts:     []engine.InspectMount{{Type: "bind", Source: "/srv", Destination: "/data"}},
}

// TestInspectTemplates: the templates written for podman's inspect work
// on InspectData, one line per object.
func TestInspectTemplates(t *testing.T) {
	for _, c := range []struct{ format, want string }{
		{"{{.State.Status}}", "exited\n"},
		{"{{.State.ExitCode}}", "143\n"},
		{"{{.Config.Labels}}", "map[a:b]\n"},
		{"{{json .NetworkSettings.Ports}}", `{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}` + "\n"},
		{"{{.Id}} {{.ID}}", "d716b7a5144c d716b7a5144c\n"},
		{"{{ .Id }}", "d716b7a5144c\n"},
		{"{{range .Mounts}}{{.Src}}:{{.Dst}}{{end}}", "/srv:/data\n"},
		{"{{.HostConfig.RestartPolicy.Name}}", "no\n"},
		{"{{.State.Healthcheck.Status}}", "\n"},
		{`{{.Name}}\t{{.State.Status}}`, "web\texited\n"},
	} {
		rep, err := parseReport("inspect", normalizeInspectFormat(c.format), "")
		if err != nil {
			t.Errorf("%s: %v", c.format, err)
			continue
		}
		var b bytes.Buffer
		if err := rep.write(&b, typedItems([]any{inspected}), nil, true); err != nil {
			t.Errorf("%s: %v", c.format, err)
			continue
		}
		if b.String() != c.want {
			t.Errorf("%s: got %q, want %q", c.format, b.String(), c.want)
		}
	}
	rep, _ := parseReport("inspect", "{{.Nope}}", "")
	err := rep.write(&bytes.Buffer{}, typedItems([]any{inspected}), nil, true)
	if err == nil || !strings.Contains(err.Error(), "engine.InspectData") {
		t.Errorf("an unknown field: %v", err)
	}
}

func TestTypedItems(t *testing.T) {
	if _, ok := typedItems([]any{inspected, inspected}).([]*engine.InspectData); !ok {
		t.Error("containers alone are not typed")
	}
	if _, ok := typedItems([]any{inspected, map[string]any{}}).([]any); !ok {
		t.Error("a container and an image are typed")
	}
}

// TestCompleteInspect: inspect completes images and containers, as
// --type says, and --type's values.
func TestCompleteInspect(t *testing.T) {
	root, runRoot := t.TempDir(), t.TempDir()
	index := `{"version":1,"images":[{"id":"` + hexID('e') + `","names":["docker.io/library/alpine:latest"],"layers":[]}]}`
	if err := os.WriteFile(filepath.Join(root, "images.json"), []byte(index), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", ""}, "docker.io/library/alpine:latest :4"},
		{[]string{"inspect", "--type", "image", "alp"}, "alpine:latest alpine :4"},
		{[]string{"inspect", "--type", "container", ""}, ":4"},
		{[]string{"container", "inspect", ""}, ":4"},
		{[]string{"inspect", "--type", ""}, "container image all :4"},
	} {
		out, code := rless(t, append([]string{"__complete", "--root", root, "--runroot", runRoot}, tc.args...)...)
		if got := strings.ReplaceAll(strings.TrimSuffix(out, "\n"), "\n", " "); code != 0 || got != tc.want {
			t.Errorf("__complete %q: status %d, %q, want %q", tc.args, code, got, tc.want)
		}
	}
}
