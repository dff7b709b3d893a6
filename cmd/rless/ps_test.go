package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/engine"
	"github.com/rless/rless/pkg/network"
)

var psNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func hexID(c byte) string { return strings.Repeat(string(c), 64) }

// psInfos are a running container with ports, labels, mounts and a
// healthcheck, one exited, one made from a root directory and never
// started, and one killed; in no particular order.
func psInfos() []engine.ContainerInfo {
	return []engine.ContainerInfo{
		{
			ID: hexID('b'), Name: "db", Image: "docker.io/library/postgres:16", ImageID: hexID('2'),
			Command: []string{"postgres"}, Created: psNow.Add(-time.Hour), Status: engine.Stopped,
			ExitCode: 0, StartedAt: psNow.Add(-50 * time.Minute), FinishedAt: psNow.Add(-3 * time.Second),
			Labels: map[string]string{"app": "db", "tier": "back"},
		},
		{
			ID: hexID('a'), Name: "web", Image: "docker.io/library/nginx:latest", ImageID: hexID('1'),
			Command: []string{"nginx", "-g", "daemon off;"}, Created: psNow.Add(-10 * time.Minute),
			Status: engine.Running, Pid: 42, ExitCode: -1, StartedAt: psNow.Add(-5 * time.Minute),
			Ports: []network.PortMapping{
				{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
				{HostPort: 8081, ContainerPort: 81, Protocol: "tcp"},
				{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
			},
			Labels: map[string]string{"app": "web", "tier": "front", "io.example/team": "blue"},
			Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "/srv/data"}, {Destination: "/tmp", Type: "tmpfs"}},
			Health: "healthy", Detached: true, RestartCount: 2,
		},
		{
			ID: hexID('c'), Name: "job", Rootfs: "/srv/root",
			Command: []string{"/bin/sh", "-c", "echo hello world; sleep 100"}, Created: psNow.Add(-30 * time.Second),
			Status: engine.Created, ExitCode: -1, AutoRemove: true,
		},
		{
			ID: hexID('d'), Name: "crash", Image: "docker.io/library/alpine:3.19", ImageID: hexID('3'),
			Command: []string{"sh"}, Created: psNow.Add(-2 * time.Hour), Status: engine.Stopped,
			ExitCode: 137, StartedAt: psNow.Add(-2 * time.Hour), FinishedAt: psNow.Add(-2 * time.Minute),
			Labels: map[string]string{"app": "batch"},
		},
	}
}

func names(rows []psRow) string {
	var s []string
	for _, r := range rows {
		s = append(s, r.Names())
	}
	return strings.Join(s, " ")
}

func TestPsSelection(t *testing.T) {
	for _, tc := range []struct {
		opts psOptions
		want string
	}{
		// Running ones by default; all, oldest first, with --all.
		{psOptions{last: -1}, "web"},
		{psOptions{last: -1, all: true}, "crash db web job"},
		// The N newest, of any state, still oldest first; --latest.
		{psOptions{last: 2}, "web job"},
		{psOptions{last: 10}, "crash db web job"},
		{psOptions{last: 0, all: true}, "crash db web job"},
		{psOptions{last: -1, latest: true}, "job"},
		// Filters: a status filter implies --all.
		{psOptions{last: -1, filters: []string{"status=exited"}}, "crash db"},
		{psOptions{last: -1, filters: []string{"status=stopped"}}, "crash db"},
		{psOptions{last: -1, filters: []string{"status=created", "status=running"}}, "web job"},
		{psOptions{last: -1, filters: []string{"status=paused"}}, ""},
		// name: a regular expression; several values: any of them.
		{psOptions{last: -1, all: true, filters: []string{"name=^d"}}, "db"},
		{psOptions{last: -1, all: true, filters: []string{"name=b"}}, "db web job"},
		{psOptions{last: -1, all: true, filters: []string{"name=^web$", "name=job"}}, "web job"},
		{psOptions{last: -1, filters: []string{"name=job"}}, ""}, // not running
		// id: a prefix.
		{psOptions{last: -1, all: true, filters: []string{"id=aaa"}}, "web"},
		{psOptions{last: -1, all: true, filters: []string{"id=a", "id=dd"}}, "crash web"},
		{psOptions{last: -1, all: true, filters: []string{"id=ab"}}, ""},
		// label: each value must match; label!= excludes.
		{psOptions{last: -1, all: true, filters: []string{"label=app"}}, "crash db web"},
		{psOptions{last: -1, all: true, filters: []string{"label=app=web"}}, "web"},
		{psOptions{last: -1, all: true, filters: []string{"label=app", "label=tier=back"}}, "db"},
		{psOptions{last: -1, all: true, filters: []string{"label=tier=front", "label=tier=back"}}, ""},
		{psOptions{last: -1, all: true, filters: []string{"label=io.example*"}}, "web"},
		{psOptions{last: -1, all: true, filters: []string{"label!=app=web"}}, "crash db job"},
		{psOptions{last: -1, all: true, filters: []string{"label!=tier"}}, "crash job"},
		// Different keys: all must match.
		{psOptions{last: -1, all: true, filters: []string{"label=app", "status=exited"}}, "crash db"},
		{psOptions{last: -1, filters: []string{"label=app", "status=exited", "name=cr"}}, "crash"},
		// ancestor: the reference, without :latest, a pattern, an ID prefix.
		{psOptions{last: -1, all: true, filters: []string{"ancestor=docker.io/library/nginx:latest"}}, "web"},
		{psOptions{last: -1, all: true, filters: []string{"ancestor=docker.io/library/nginx"}}, "web"},
		{psOptions{last: -1, all: true, filters: []string{"ancestor=alpine"}}, "crash"},
		{psOptions{last: -1, all: true, filters: []string{"ancestor=222", "ancestor=sha256:333"}}, "crash db"},
		{psOptions{last: -1, all: true, filters: []string{"ancestor=/srv/root"}}, ""},
		// exited: the exit status of a stopped container.
		{psOptions{last: -1, filters: []string{"exited=137"}}, ""},
		{psOptions{last: -1, all: true, filters: []string{"exited=137"}}, "crash"},
		{psOptions{last: -1, all: true, filters: []string{"exited=0"}}, "db"},
		{psOptions{last: -1, all: true, filters: []string{"exited=0", "exited=137"}}, "crash db"},
		// health, before, since.
		{psOptions{last: -1, all: true, filters: []string{"health=healthy"}}, "web"},
		{psOptions{last: -1, all: true, filters: []string{"before=web"}}, "crash db"},
		{psOptions{last: -1, all: true, filters: []string{"since=db"}}, "web job"},
		{psOptions{last: -1, all: true, filters: []string{"since=" + hexID('b')[:5], "before=job"}}, "web"},
		// Filters apply before --last.
		{psOptions{last: 1, filters: []string{"status=exited"}}, "db"},
	} {
		rows, err := psRows(psInfos(), tc.opts, psNow)
		if err != nil {
			t.Errorf("%+v: %v", tc.opts, err)
			continue
		}
		if got := names(rows); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.opts, got, tc.want)
		}
	}
}

func TestPsErrors(t *testing.T) {
	for _, tc := range []struct {
		opts psOptions
		want string
	}{
		{psOptions{last: 1, latest: true}, "last and latest are mutually exclusive"},
		{psOptions{last: 0, latest: true}, "last and latest are mutually exclusive"},
		{psOptions{last: -1, filters: []string{"name"}}, `invalid filter "name"`},
		{psOptions{last: -1, filters: []string{"bogus=1"}}, "bogus is an invalid filter"},
		{psOptions{last: -1, filters: []string{"status=gone"}}, "filter status=gone: unknown container state"},
		{psOptions{last: -1, filters: []string{"exited=x"}}, "filter exited=x: not an exit status"},
		{psOptions{last: -1, filters: []string{"name=("}}, "filter name=(: error parsing regexp"},
		{psOptions{last: -1, filters: []string{"since=nope"}}, `filter since=nope: no container with name or ID "nope" found`},
	} {
		_, err := psRows(psInfos(), tc.opts, psNow)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.opts, err, tc.want)
		}
	}
	// The syntax is checked without the containers.
	if _, err := psFilter([]string{"since=x", "before=y"}, nil); err != nil {
		t.Errorf("syntax check: %v", err)
	}
	if _, err := psFilter([]string{"nope=x"}, nil); err == nil {
		t.Error("syntax check: no error for an unknown key")
	}
}

// ps writes rows of psInfos with opts (--all unless told otherwise).
func ps(t *testing.T, opts psOptions) string {
	t.Helper()
	rows, err := psRows(psInfos(), opts, psNow)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writePs(&buf, rows, opts); err != nil {
		t.Fatalf("%+v: %v", opts, err)
	}
	return buf.String()
}

func TestPsTable(t *testing.T) {
	want := "" +
		"CONTAINER ID  IMAGE                           COMMAND               CREATED            STATUS                      PORTS                                                 NAMES\n" +
		"dddddddddddd  docker.io/library/alpine:3.19   sh                    2 hours ago        Exited (137) 2 minutes ago                                                        crash\n" +
		"bbbbbbbbbbbb  docker.io/library/postgres:16   postgres              About an hour ago  Exited (0) 3 seconds ago                                                          db\n" +
		"aaaaaaaaaaaa  docker.io/library/nginx:latest  nginx -g daemon o...  10 minutes ago     Up 5 minutes (healthy)      0.0.0.0:8080-8081->80-81/tcp, 127.0.0.1:5353->53/udp  web\n" +
		"cccccccccccc  /srv/root                       /bin/sh -c echo h...  30 seconds ago     Created                                                                           job\n"
	if got := ps(t, psOptions{last: -1, all: true}); got != want {
		t.Errorf("table:\n%s\nwant\n%s", got, want)
	}
	// "table" alone is the default table.
	if got := ps(t, psOptions{last: -1, all: true, format: "table"}); got != want {
		t.Errorf("--format table:\n%s\nwant\n%s", got, want)
	}
	// Nothing running: the header alone, in columns of 12 at least.
	got := ps(t, psOptions{last: -1, filters: []string{"name=none"}})
	if got != "CONTAINER ID  IMAGE       COMMAND     CREATED     STATUS      PORTS       NAMES\n" {
		t.Errorf("empty table: %q", got)
	}
	if got := ps(t, psOptions{last: -1, noHeading: true, filters: []string{"name=none"}}); got != "" {
		t.Errorf("empty table, --noheading: %q", got)
	}
	// --no-trunc: whole IDs and commands.
	got = ps(t, psOptions{last: -1, noTrunc: true})
	if !strings.Contains(got, hexID('a')+"  docker.io/library/nginx:latest  nginx -g daemon off;  10 minutes ago") {
		t.Errorf("--no-trunc:\n%s", got)
	}
}

// TestPsTableFast checks that the default table (psTable) is what
// the template of --format table prints.
func TestPsTableFast(t *testing.T) {
	for _, opts := range []psOptions{
		{last: -1, all: true}, {last: -1, all: true, noHeading: true},
		{last: -1, all: true, noTrunc: true}, {last: -1, filters: []string{"name=none"}},
	} {
		want := opts
		want.format = "table"
		if got, want := ps(t, opts), ps(t, want); got != want {
			t.Errorf("%+v: the default table\n%s\n--format table\n%s", opts, got, want)
		}
	}
}

// TestPsTableOdd compares the default table with --format table's for
// cells wider than a column's minimum, with runes of several bytes, and
// with a tab (which makes writePs use the template).
func TestPsTableOdd(t *testing.T) {
	infos := []engine.ContainerInfo{
		{ID: hexID('e'), Name: "ünïcödé-näme", Image: "registry.example.com/a/very/long/image/name:tag", Command: []string{"é"}, Created: psNow.Add(-time.Minute), Status: engine.Running},
		{ID: hexID('f'), Name: "tab\there", Image: "x", Command: []string{"a\tb"}, Created: psNow, Status: engine.Created},
	}
	for _, n := range []int{1, 2} {
		var rows []psRow
		for _, ci := range infos[:n] {
			rows = append(rows, newPsRow(ci, psNow, false))
		}
		if _, ok := psTable(rows, false); ok != (n == 1) {
			t.Errorf("%d rows: psTable made the table: %v, want %v", n, ok, n == 1)
		}
		var fast, slow strings.Builder
		if err := writePs(&fast, rows, psOptions{}); err != nil {
			t.Fatal(err)
		}
		rep, err := parseReport("ps", "table", psDefaultRow)
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.write(&slow, rows, psHeaders, false); err != nil {
			t.Fatal(err)
		}
		if fast.String() != slow.String() {
			t.Errorf("%d rows: the default table\n%q\n--format table\n%q", n, fast.String(), slow.String())
		}
	}
}

func TestPsQuiet(t *testing.T) {
	if got := ps(t, psOptions{last: -1, all: true, quiet: true}); got != "dddddddddddd\nbbbbbbbbbbbb\naaaaaaaaaaaa\ncccccccccccc\n" {
		t.Errorf("-aq: %q", got)
	}
	if got := ps(t, psOptions{last: -1, quiet: true, noTrunc: true}); got != hexID('a')+"\n" {
		t.Errorf("-q --no-trunc: %q", got)
	}
	if got := ps(t, psOptions{last: -1, quiet: true, filters: []string{"name=none"}}); got != "" {
		t.Errorf("-q, none: %q", got)
	}
	// --format wins over --quiet.
	if got := ps(t, psOptions{last: -1, quiet: true, format: "{{.Names}}"}); got != "web\n" {
		t.Errorf("-q --format: %q", got)
	}
	if got := ps(t, psOptions{last: -1, quiet: true, format: "json"}); !strings.HasPrefix(got, "[\n  {\n") {
		t.Errorf("-q --format json: %q", got)
	}
}

func TestPsTemplates(t *testing.T) {
	for _, tc := range []struct {
		format string
		want   string
	}{
		{"{{.ID}} {{.Names}}", "aaaaaaaaaaaa web\n"},
		{"{{.Image}} {{.ImageID}}", "docker.io/library/nginx:latest 111111111111\n"},
		{"{{.Command}}|{{.State}}|{{.Status}}", "nginx -g daemon o...|running|Up 5 minutes (healthy)\n"},
		{"{{.CreatedHuman}}|{{.RunningFor}}|{{.CreatedAt}}", "10 minutes ago|10 minutes ago|2024-05-01 11:50:00 +0000 UTC\n"},
		{"{{.Created.Unix}} {{.StartedAt}} {{.ExitedAt}}", "1714564200 1714564500 -62135596800\n"},
		{"{{.Ports}}", "0.0.0.0:8080-8081->80-81/tcp, 127.0.0.1:5353->53/udp\n"},
		{"{{.Labels}}", "map[app:web io.example/team:blue tier:front]\n"},
		{`{{.Label "tier"}} {{index .Labels "app"}}`, "front web\n"},
		{"{{.Mounts}} {{json .Mounts}}", "[/data /tmp] [\"/data\",\"/tmp\"]\n"},
		{"{{.Pid}} {{.ExitCode}} {{.Exited}} {{.AutoRemove}} {{.Restarts}} {{.IsInfra}}", "42 0 false false 2 false\n"},
		{"{{.Networks}}|{{.Pod}}|{{.PodName}}|{{.Size}}", "|||\n"},
		{"{{.ID | upper}} {{truncate .Names 2}}", "AAAAAAAAAAAA we\n"},
		{"{{range .}}{{.Names}},{{end}}", "web,\n"},
		{"table {{.ID}} {{.Names}} {{.State}}", "CONTAINER ID  NAMES       STATE\naaaaaaaaaaaa  web         running\n"},
		{`table {{.Names}}\t{{.CreatedHuman}}\t{{.RunningFor}}\t{{.ImageID}}\t{{.ExitCode}}\t{{.PodName}}`,
			"NAMES       CREATED         RUNNING FOR     IMAGE ID      EXIT CODE   PODNAME\nweb         10 minutes ago  10 minutes ago  111111111111  0           \n"},
	} {
		if got := ps(t, psOptions{last: -1, format: tc.format}); got != tc.want {
			t.Errorf("--format %q:\n%q, want\n%q", tc.format, got, tc.want)
		}
	}
	// A template of the created container made from a directory.
	got := ps(t, psOptions{last: -1, latest: true, noTrunc: true, format: "{{.Image}}|{{.ImageID}}|{{.Command}}|{{.Status}}|{{.Ports}}|{{.Labels}}|{{.ExitCode}}"})
	if got != "/srv/root||/bin/sh -c echo hello world; sleep 100|Created||map[]|0\n" {
		t.Errorf("created container: %q", got)
	}
	// An unknown field fails, with nothing printed.
	rows, _ := psRows(psInfos(), psOptions{last: -1}, psNow)
	var buf bytes.Buffer
	err := writePs(&buf, rows, psOptions{last: -1, format: "table {{.Nope}}"})
	if err == nil || buf.Len() != 0 || !strings.HasPrefix(err.Error(), `template: ps:1:`) || !strings.Contains(err.Error(), "can't evaluate field Nope in type main.psRow") {
		t.Errorf("unknown field: %q, %v", buf.String(), err)
	}
}

func TestPsJSON(t *testing.T) {
	out := ps(t, psOptions{last: -1, all: true, format: "json"})
	if !strings.HasPrefix(out, "[\n  {\n    \"AutoRemove\": false,\n    \"Command\": [\n      \"sh\"\n    ],") || !strings.HasSuffix(out, "\n]\n") {
		t.Errorf("not podman's indentation:\n%s", out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("%d containers", len(list))
	}
	keys := []string{"AutoRemove", "Command", "CreatedAt", "Exited", "ExitedAt", "ExitCode", "Id", "Image", "ImageID",
		"IsInfra", "Labels", "Mounts", "Names", "Namespaces", "Networks", "Pid", "Pod", "PodName", "Ports",
		"Restarts", "Size", "StartedAt", "State", "Status", "Created"}
	// The keys, in podman's order.
	var order []string
	dec := json.NewDecoder(strings.NewReader(out))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		default:
			if s, ok := tok.(string); ok && depth == 2 && len(order) < len(keys) && dec.More() {
				order = append(order, s)
				// Skip the value.
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(order) == len(keys) {
			break
		}
	}
	if !reflect.DeepEqual(order, keys) {
		t.Errorf("keys %v,\nwant %v", order, keys)
	}
	web := list[2]
	want := map[string]any{
		"AutoRemove": false,
		"Command":    []any{"nginx", "-g", "daemon off;"},
		"CreatedAt":  "10 minutes ago",
		"Exited":     false,
		"ExitedAt":   float64(-62135596800),
		"ExitCode":   float64(0),
		"Id":         hexID('a'),
		"Image":      "docker.io/library/nginx:latest",
		"ImageID":    hexID('1'),
		"IsInfra":    false,
		"Labels":     map[string]any{"app": "web", "tier": "front", "io.example/team": "blue"},
		"Mounts":     []any{"/data", "/tmp"},
		"Names":      []any{"web"},
		"Namespaces": map[string]any{},
		"Networks":   []any{},
		"Pid":        float64(42),
		"Pod":        "",
		"PodName":    "",
		"Ports": []any{
			map[string]any{"host_ip": "", "container_port": float64(80), "host_port": float64(8080), "range": float64(2), "protocol": "tcp"},
			map[string]any{"host_ip": "127.0.0.1", "container_port": float64(53), "host_port": float64(5353), "range": float64(1), "protocol": "udp"},
		},
		"Restarts":  float64(2),
		"Size":      nil,
		"StartedAt": float64(psNow.Add(-5 * time.Minute).Unix()),
		"State":     "running",
		"Status":    "Up 5 minutes (healthy)",
		"Created":   float64(psNow.Add(-10 * time.Minute).Unix()),
	}
	if !reflect.DeepEqual(web, want) {
		t.Errorf("web:\n%v\nwant\n%v", web, want)
	}
	if db := list[1]; db["State"] != "exited" || db["Exited"] != true || db["Status"] != "Exited (0) 3 seconds ago" || db["ExitedAt"] != float64(psNow.Add(-3*time.Second).Unix()) {
		t.Errorf("db: %v", db)
	}
	if job := list[3]; job["Image"] != "/srv/root" || job["State"] != "created" || job["AutoRemove"] != true || job["ImageID"] != "" {
		t.Errorf("job: %v", job)
	}
	// Nothing: an empty array; {{json .}} is JSON too.
	if got := ps(t, psOptions{last: -1, format: "{{json .}}", filters: []string{"name=none"}}); got != "[]\n" {
		t.Errorf("empty: %q", got)
	}
}

func TestPsStatus(t *testing.T) {
	for _, tc := range []struct {
		ci   engine.ContainerInfo
		want string
	}{
		{engine.ContainerInfo{Status: engine.Created}, "Created"},
		{engine.ContainerInfo{Status: "creating"}, "Created"},
		{engine.ContainerInfo{Status: engine.Running, StartedAt: psNow.Add(-500 * time.Millisecond)}, "Up Less than a second"},
		{engine.ContainerInfo{Status: engine.Running, StartedAt: psNow.Add(-time.Second)}, "Up 1 second"},
		{engine.ContainerInfo{Status: engine.Running, StartedAt: psNow.Add(-61 * time.Second), Health: "starting"}, "Up About a minute (starting)"},
		{engine.ContainerInfo{Status: engine.Running, StartedAt: psNow.Add(-3 * time.Hour), Health: "unhealthy"}, "Up 3 hours (unhealthy)"},
		{engine.ContainerInfo{Status: engine.Running, StartedAt: psNow.Add(-72 * time.Hour)}, "Up 3 days"},
		{engine.ContainerInfo{Status: engine.Stopped, ExitCode: 1, FinishedAt: psNow.Add(-45 * time.Minute)}, "Exited (1) 45 minutes ago"},
		{engine.ContainerInfo{Status: engine.Stopped, ExitCode: -1}, "Exited (-1)"},
	} {
		if got := newPsRow(tc.ci, psNow, false).psContainer.Status; got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.ci, got, tc.want)
		}
	}
}

func TestPsPorts(t *testing.T) {
	ip := netip.MustParseAddr("::1")
	ms := []network.PortMapping{
		{HostPort: 1000, ContainerPort: 2000, Protocol: "tcp"},
		{HostPort: 1001, ContainerPort: 2001, Protocol: "tcp"},
		{HostPort: 1002, ContainerPort: 2002, Protocol: "tcp"},
		{HostPort: 1003, ContainerPort: 2003, Protocol: "udp"},
		{HostPort: 1005, ContainerPort: 2004, Protocol: "udp"},
		{HostIP: ip, HostPort: 1006, ContainerPort: 2005, Protocol: "udp"},
		{HostPort: 0, ContainerPort: 3000, Protocol: "tcp"},
		{HostPort: 0, ContainerPort: 3001, Protocol: "tcp"},
	}
	r := psRow{psContainer: psContainer{Ports: psPorts(ms)}}
	want := "0.0.0.0:1000-1002->2000-2002/tcp, 0.0.0.0:1003->2003/udp, 0.0.0.0:1005->2004/udp, ::1:1006->2005/udp, 0.0.0.0:0->3000/tcp, 0.0.0.0:0->3001/tcp"
	if got := r.Ports(); got != want {
		t.Errorf("ports %q,\nwant %q", got, want)
	}
	if got := (psRow{}).Ports(); got != "" {
		t.Errorf("no ports: %q", got)
	}
}

// The completion of containers and images (completion.go).

// rless runs rless with args and returns its standard output and exit
// status.
func rless(t *testing.T, args ...string) (string, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	stdout := os.Stdout
	os.Stdout = w
	code := execute(args, false)
	os.Stdout = stdout
	w.Close()
	return <-out, code
}

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_rless",
		"zsh":        "#compdef rless",
		"fish":       "complete -c rless",
		"powershell": "Register-ArgumentCompleter",
	} {
		out, code := rless(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: status %d, %d bytes without %q", shell, code, len(out), want)
		}
	}
	file := filepath.Join(t.TempDir(), "rless.bash")
	if out, code := rless(t, "completion", "--no-desc", "-f", file, "bash"); code != 0 || out != "" {
		t.Errorf("completion -f: status %d, output %q", code, out)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "__start_rless") {
		t.Errorf("completion -f: %v", err)
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		if _, code := rless(t, args...); code != 125 {
			t.Errorf("%v: status %d, want 125", args, code)
		}
	}
}

func TestCompleteImages(t *testing.T) {
	root, runRoot := t.TempDir(), t.TempDir()
	index := `{"version":1,"images":[` +
		`{"id":"` + hexID('e') + `","names":["docker.io/library/alpine:latest","quay.io/x/httpd:2.4"],"layers":[]},` +
		`{"id":"` + hexID('f') + `","layers":[]}]}`
	if err := os.WriteFile(filepath.Join(root, "images.json"), []byte(index), 0o600); err != nil {
		t.Fatal(err)
	}
	complete := func(args ...string) string {
		t.Helper()
		out, code := rless(t, append([]string{"__complete", "--root", root, "--runroot", runRoot}, args...)...)
		if code != 0 {
			t.Fatalf("__complete %v: status %d", args, code)
		}
		return strings.ReplaceAll(strings.TrimSuffix(out, "\n"), "\n", " ")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rmi", ""}, "docker.io/library/alpine:latest quay.io/x/httpd:2.4 :4"},
		{[]string{"rmi", "alp"}, "alpine:latest alpine :4"},
		{[]string{"rmi", "alpine", "x/"}, "x/httpd:2.4 x/httpd :4"},
		{[]string{"image", "rm", "e"}, ":4"},
		{[]string{"image", "inspect", "ee"}, "eeeeeeeeeeee :4"},
		{[]string{"image", "inspect", "h"}, "httpd:2.4 httpd :4"},
		{[]string{"tag", "quay"}, "quay.io/x/httpd:2.4 quay.io/x/httpd :4"},
		{[]string{"tag", "alpine", ""}, ":4"},
		{[]string{"run", "docker.io/library/a"}, "docker.io/library/alpine:latest docker.io/library/alpine :4"},
		{[]string{"run", "alpine", ""}, ":0"},
		{[]string{"run", "--rootfs", "/", ""}, ":0"},
		{[]string{"ps", "--filter", "ancestor=alp"}, "ancestor=alpine:latest ancestor=alpine :4"},
		{[]string{"ps", "--filter", "st"}, "status= :6"},
		{[]string{"ps", "--filter", "status=ex"}, "status=exited :4"},
		{[]string{"completion", ""}, "bash zsh fish powershell :4"},
	} {
		if got := complete(tc.args...); got != tc.want {
			t.Errorf("__complete %q: %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestContainerCompletions(t *testing.T) {
	infos := psInfos()
	for _, tc := range []struct {
		typed  string
		states []engine.Status
		want   []string
	}{
		{"", nil, []string{"db", "web", "job", "crash"}},
		{"c", nil, []string{"crash"}},
		{"cc", nil, []string{"cccccccccccc"}},
		{"", []engine.Status{engine.Running}, []string{"web"}},
		{"d", []engine.Status{engine.Stopped}, []string{"db"}},
		{"dd", []engine.Status{engine.Stopped}, []string{"dddddddddddd"}},
		{hexID('a')[:13], nil, []string{hexID('a')}},
		{"x", nil, nil},
	} {
		if got := containerCompletions(infos, tc.typed, tc.states...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q %v: %q, want %q", tc.typed, tc.states, got, tc.want)
		}
	}
}
