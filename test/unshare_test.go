package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rless/rless/internal/testenv"
)

func TestUnshare(t *testing.T) {
	before := takeSnapshot(t)
	r := run(t, "unshare", "cat", "/proc/self/uid_map")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := 1
	if len(subUIDs) > 0 {
		want = 2
	}
	if len(lines) != want {
		t.Errorf("uid_map in unshare has %d lines, want %d:\n%s", len(lines), want, r.stdout)
	}
	if r := run(t, "unshare", "id", "-u"); strings.TrimSpace(r.stdout) != "0" {
		t.Errorf("id -u in unshare = %q", r.stdout)
	}
	// It is a host command: the host's files are there, and a new mount
	// namespace, so a mount inside does not show outside.
	hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
	r = run(t, "unshare", "sh", "-c", "readlink /proc/self/ns/mnt; test -e "+rless+" && echo host-files")
	if f := strings.Fields(r.stdout); len(f) != 2 || f[0] == hostMnt || f[1] != "host-files" {
		t.Errorf("unshare: %q (host mnt %s)", r.stdout, hostMnt)
	}
	if r := run(t, "unshare", "sh", "-c", "exit 9"); r.code != 9 {
		t.Errorf("exit status %d, want 9", r.code)
	}
	if r := run(t, "unshare", "no-such-command-x"); r.code != 127 {
		t.Errorf("missing command: exit %d, want 127", r.code)
	}
	if r := run(t, "unshare", "sh", "-c", "echo $RLESS_ROOT"); !strings.Contains(r.stdout, "rless") {
		t.Errorf("RLESS_ROOT not set: %q", r.stdout)
	}
	if len(subUIDs) > 0 {
		// chown to a subordinate id works inside the mapping and shows as
		// subuid start + id - 1 on the host.
		f := workDir + "/chowned"
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if r := run(t, "unshare", "chown", "42:42", f); r.code != 0 {
			t.Fatalf("chown in unshare: %d %s", r.code, r.stderr)
		}
		var st = statOwner(t, f)
		if st != subUIDs[0].Start+41 {
			t.Errorf("file owner on host %d, want %d", st, subUIDs[0].Start+41)
		}
		if r := run(t, "unshare", "rm", f); r.code != 0 {
			t.Errorf("rm in unshare: %s", r.stderr)
		}
	}
	assertClean(t, before)
}

func TestInfo(t *testing.T) {
	r := run(t, "info", "--format", "json")
	if r.code != 0 {
		t.Fatalf("info: exit %d %s", r.code, r.stderr)
	}
	var info struct {
		Host struct {
			Kernel string `json:"kernel"`
		} `json:"host"`
		IDs struct {
			UID       int    `json:"uid"`
			NewUIDMap string `json:"newuidmap"`
			SubUIDs   []struct {
				Start uint32 `json:"start"`
				Count uint32 `json:"count"`
			} `json:"subuids"`
		} `json:"idMappings"`
		Kernel struct {
			Openat2 bool `json:"openat2"`
		} `json:"kernel"`
		Helpers map[string]string `json:"helpers"`
		Network []string          `json:"networkModes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("info json: %v\n%s", err, r.stdout)
	}
	if info.IDs.UID != os.Getuid() || info.Host.Kernel == "" || !info.Kernel.Openat2 {
		t.Errorf("info: %+v", info)
	}
	if len(info.IDs.SubUIDs) != len(subUIDs) {
		t.Errorf("info shows %d subuid ranges, /etc/subuid %d", len(info.IDs.SubUIDs), len(subUIDs))
	}
	if info.IDs.NewUIDMap == "" || info.Helpers["newuidmap"] == "" {
		t.Errorf("newuidmap not reported (it is installed): %+v", info.Helpers)
	}
	want := []string{"none", "host"}
	if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err == nil {
		f.Close()
		want = append([]string{"slirp"}, want...)
	}
	for _, prog := range []string{"slirp4netns", "pasta"} {
		if _, err := exec.LookPath(prog); err == nil {
			want = append(want, prog)
		}
	}
	if strings.Join(info.Network, ",") != strings.Join(want, ",") {
		t.Errorf("network modes %v, want %v", info.Network, want)
	}
	// Where the harness says the host has them all (CI), all of them.
	if all := []string{"slirp", "none", "host", "slirp4netns", "pasta"}; testenv.ExpectDeps(t) && strings.Join(info.Network, ",") != strings.Join(all, ",") {
		t.Errorf("RLESS_TEST_EXPECT_DEPS=1: network modes %v, want %v (this host gives %v; hack/deps.sh installs slirp4netns and passt and opens /dev/net/tun)", info.Network, all, want)
	}
	text := run(t, "info")
	for _, want := range []string{"kernel:", "subuids:", "newuidmap:", "network modes:"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("info text lacks %q", want)
		}
	}
	if r := run(t, "info", "--format", "{{.Host.Kernel}}"); strings.TrimSpace(r.stdout) != info.Host.Kernel {
		t.Errorf("template output %q", r.stdout)
	}
}
