package engine

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/network"
)

// TestInspectDetached: the InspectData of a stopped detached container
// made from a root directory, worked out of its Config alone (no disk
// read but the store's empty volume list).
func TestInspectDetached(t *testing.T) {
	root := t.TempDir()
	e, err := Open(WithRoot(root), WithRunRoot(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	info := ContainerInfo{
		ID: id, Name: "web", Rootfs: rootfs, Created: created, Status: Stopped, ExitCode: 143,
		StartedAt: created.Add(time.Second), FinishedAt: created.Add(time.Minute),
		Labels: map[string]string{"a": "b"}, Detached: true, RestartCount: 2,
		Mounts: []specs.Mount{
			{Type: "bind", Source: "/srv", Destination: "/data", Options: []string{"rbind", "ro", "rslave"}},
			{Type: "volume", Source: "cache", Destination: "/cache", Options: []string{"rbind"}},
			{Type: "tmpfs", Source: "tmpfs", Destination: "/scratch", Options: []string{"rw", "size=1m"}},
		},
		LogPath: filepath.Join(root, "log"),
		Config: Config{
			Rootfs: rootfs, Command: []string{"sleep", "100"}, Env: []string{"FOO=bar"},
			Publish: []string{"8080:80", "127.0.0.1::53/udp"}, Network: "slirp:mtu=1500",
			StopSignal: "usr1", StopTimeout: 3 * time.Second,
			Restart:     RestartPolicy{Name: "on-failure", MaxRetries: 5},
			Healthcheck: &Healthcheck{Test: []string{"CMD", "true"}},
			Security:    Security{CapAdd: []string{"net_admin"}, NoNewPrivileges: true},
			Limits:      Limits{Pids: -1, Memory: 1 << 20, CPUs: 1.5},
		},
	}
	d := e.inspect(info)
	if d.ID != id || d.Name != "web" || d.Path != "sleep" || !reflect.DeepEqual(d.Args, []string{"100"}) {
		t.Errorf("id, name, path, args: %q %q %q %q", d.ID, d.Name, d.Path, d.Args)
	}
	if d.Rootfs != rootfs || d.Image != "" || d.Driver != "" || d.RestartCount != 2 {
		t.Errorf("rootfs, image, driver, restarts: %q %q %q %d", d.Rootfs, d.Image, d.Driver, d.RestartCount)
	}
	st := d.State
	if st.Status != "exited" || st.Running || st.ExitCode != 143 || st.Pid != 0 || !st.FinishedAt.Equal(info.FinishedAt) {
		t.Errorf("state: %+v", st)
	}
	if st.Health == nil || st.Health.Log == nil {
		t.Errorf("a container with a healthcheck has a Health with a Log: %+v", st.Health)
	}
	if d.ConmonPidFile != e.monitorPath(id, ".pid") || d.LogPath != info.LogPath {
		t.Errorf("pid file, log: %q %q", d.ConmonPidFile, d.LogPath)
	}
	wantMounts := []InspectMount{
		{Type: "bind", Source: "/srv", Destination: "/data", Options: []string{"rbind"}, Propagation: "rslave"},
		{Type: "volume", Name: "cache", Destination: "/cache", Driver: "local", Options: []string{"rbind"}, RW: true},
	}
	if !reflect.DeepEqual(d.Mounts, wantMounts) {
		t.Errorf("mounts:\n got %+v\nwant %+v", d.Mounts, wantMounts)
	}
	hc := d.HostConfig
	if want := []string{"/srv:/data:ro,rslave,rbind", "cache:/cache:rw,rbind"}; !reflect.DeepEqual(hc.Binds, want) {
		t.Errorf("binds: %q, want %q", hc.Binds, want)
	}
	if want := map[string]string{"/scratch": "rw,size=1m"}; !reflect.DeepEqual(hc.Tmpfs, want) {
		t.Errorf("tmpfs: %q", hc.Tmpfs)
	}
	if *hc.RestartPolicy != (InspectRestartPolicy{Name: "on-failure", MaximumRetryCount: 5}) {
		t.Errorf("restart policy: %+v", *hc.RestartPolicy)
	}
	if hc.NetworkMode != "slirp" || hc.PidsLimit != 0 || hc.Memory != 1<<20 || hc.NanoCpus != 1.5e9 || !hc.Init {
		t.Errorf("network, pids, memory, cpus, init: %q %d %d %d %v", hc.NetworkMode, hc.PidsLimit, hc.Memory, hc.NanoCpus, hc.Init)
	}
	if !reflect.DeepEqual(hc.CapAdd, []string{"CAP_NET_ADMIN"}) || !reflect.DeepEqual(hc.SecurityOpt, []string{"no-new-privileges"}) {
		t.Errorf("caps, security options: %q %q", hc.CapAdd, hc.SecurityOpt)
	}
	wantPorts := map[string][]InspectHostPort{"80/tcp": {{HostPort: "8080"}}, "53/udp": {{HostIP: "127.0.0.1"}}}
	if !reflect.DeepEqual(hc.PortBindings, wantPorts) || !reflect.DeepEqual(d.NetworkSettings.Ports, wantPorts) {
		t.Errorf("ports: %+v %+v", hc.PortBindings, d.NetworkSettings.Ports)
	}
	if d.NetworkSettings.IPAddress != "" {
		t.Errorf("a stopped container has an address: %q", d.NetworkSettings.IPAddress)
	}
	c := d.Config
	if c.Hostname != id[:12] || c.WorkingDir != "/" || c.StopSignal != "SIGUSR1" || c.StopTimeout != 3 || c.Labels["a"] != "b" {
		t.Errorf("config: %+v", c)
	}
	if !reflect.DeepEqual(c.Cmd, []string{"sleep", "100"}) || c.Entrypoint != nil {
		t.Errorf("cmd, entrypoint: %q %q", c.Cmd, c.Entrypoint)
	}
	if env := c.Env; len(env) == 0 || env[len(env)-1] != "FOO=bar" {
		t.Errorf("env: %q", env)
	}
	if c.Healthcheck == nil || c.Healthcheck.Interval != defaultHealthInterval || c.Healthcheck.Retries != defaultHealthRetries || c.HealthcheckOnFailureAction != "none" {
		t.Errorf("healthcheck: %+v %q", c.Healthcheck, c.HealthcheckOnFailureAction)
	}
}

// TestInspectState: podman's words and flags for each state.
func TestInspectState(t *testing.T) {
	e, err := Open(WithRoot(t.TempDir()), WithRunRoot(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		status   Status
		exit     int
		want     string
		running  bool
		wantExit int32
	}{
		{Created, -1, "created", false, 0},
		{Running, -1, "running", true, 0},
		{Stopped, 0, "exited", false, 0},
		{Stopped, 137, "exited", false, 137},
		{Stopped, -1, "exited", false, -1},
	} {
		st := e.inspectState(ContainerInfo{ID: "x", Status: c.status, ExitCode: c.exit})
		if st.Status != c.want || st.Running != c.running || st.ExitCode != c.wantExit || st.OciVersion != specs.Version || st.Health != nil {
			t.Errorf("%s (exit %d): %+v", c.status, c.exit, st)
		}
	}
}

// TestInspectJSON: the JSON names are podman's.
func TestInspectJSON(t *testing.T) {
	d := InspectData{
		ID: "x", State: &InspectState{}, Config: &InspectConfig{}, HostConfig: &InspectHostConfig{RestartPolicy: &InspectRestartPolicy{}},
		NetworkSettings: &InspectNetworkSettings{Ports: map[string][]InspectHostPort{"80/tcp": {{HostPort: "8080"}}}},
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Id", "Created", "Path", "Args", "State", "Image", "ImageName", "Rootfs", "Name", "RestartCount",
		"Driver", "MountLabel", "ProcessLabel", "Mounts", "Config", "HostConfig", "NetworkSettings", "LogPath", "ConmonPidFile"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s in %s", k, b)
		}
	}
	state := m["State"].(map[string]any)
	for _, k := range []string{"OciVersion", "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error", "StartedAt", "FinishedAt"} {
		if _, ok := state[k]; !ok {
			t.Errorf("no State.%s in %s", k, b)
		}
	}
	if _, ok := state["Health"]; ok {
		t.Errorf("State.Health without a healthcheck: %s", b)
	}
	ports := m["NetworkSettings"].(map[string]any)["Ports"].(map[string]any)["80/tcp"].([]any)[0].(map[string]any)
	if ports["HostIp"] != "" || ports["HostPort"] != "8080" {
		t.Errorf("ports: %v", ports)
	}
}

func TestPortMap(t *testing.T) {
	ms := []network.PortMapping{
		{ContainerPort: 80, HostPort: 8080, Protocol: "tcp"},
		{ContainerPort: 80, HostPort: 8081, Protocol: "tcp", HostIP: netip.MustParseAddr("::1")},
		{ContainerPort: 53, Protocol: "udp"},
	}
	want := map[string][]InspectHostPort{
		"80/tcp": {{HostPort: "8080"}, {HostIP: "::1", HostPort: "8081"}},
		"53/udp": {{}},
	}
	if got := portMap(ms); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		path, dir string
		want      bool
	}{
		{"/a/b", "/a", true}, {"/a", "/a", true}, {"/ab", "/a", false}, {"/b", "/a", false}, {"/a/..b", "/a", true}, {"/a", "", false},
	} {
		if got := within(c.path, c.dir); got != c.want {
			t.Errorf("within(%q, %q) = %v", c.path, c.dir, got)
		}
	}
}
