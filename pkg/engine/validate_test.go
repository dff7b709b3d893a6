package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/layer"
	"github.com/rless/rless/pkg/userns"
	"golang.org/x/sys/unix"
)

func TestValidateConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Env: []string{"A=b", "=x"}}, `invalid environment variable: "=x"`},
		{Config{DNS: []string{"192.0.2.1", "999.1.1.1"}}, "999.1.1.1 is not an ip address"},
		{Config{DNS: []string{"not-an-ip"}}, "not-an-ip is not an ip address"},
		{Config{Mounts: []specs.Mount{{Destination: "/proc", Type: "bind", Source: "/tmp"}}}, "/proc"},
		{Config{Env: []string{"A=b"}, DNS: []string{"::1"}, Mounts: []specs.Mount{{Destination: "/proc/x"}}}, ""},
	} {
		err := validateConfig(c.cfg)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
		if err != nil && ExitCode(err) != 125 {
			t.Errorf("%v: exit status %d, want 125", err, ExitCode(err))
		}
	}
}

func TestCheckMapped(t *testing.T) {
	m := userns.Mapping{
		UIDs: []specs.LinuxIDMapping{{ContainerID: 1, HostID: 100000, Size: 65536}, {ContainerID: 0, HostID: 1000, Size: 1}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
	}
	if err := checkMapped(m, specs.User{UID: 65536, GID: 0, AdditionalGids: []uint32{10}}); err != nil {
		t.Error(err)
	}
	err := checkMapped(m, specs.User{UID: 70000, GID: 70000})
	want := "uid 70000 is outside the 65537 uids mapped in the container's user namespace (0-65536): a larger range in /etc/subuid maps more"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if ExitCode(err) != container.ExitCannotExec {
		t.Errorf("exit status %d, want 126", ExitCode(err))
	}
	err = checkMapped(m, specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{70001}})
	if err == nil || !strings.HasPrefix(err.Error(), "gid 70001 is outside the 65537 gids mapped") {
		t.Errorf("got %v", err)
	}
	own := userns.Mapping{UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}}
	err = checkMapped(own, specs.User{UID: 1000})
	want = "uid 1000 is outside the 1 uid mapped in the container's user namespace (0): a range in /etc/subuid (and newuidmap) maps more"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// testLayers makes two layers, upper over lower, and returns them top first.
func testLayers(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	upper, lower := filepath.Join(dir, "upper"), filepath.Join(dir, "lower")
	for _, d := range []string{
		lower + "/etc", lower + "/usr/lib", lower + "/opt/old", lower + "/gone/sub",
		upper + "/etc", upper + "/opt", upper + "/srv/new",
	} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{lower + "/etc/passwd", upper + "/gone"} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		lower + "/lib":       "usr/lib",
		lower + "/abs":       "/usr/lib",
		upper + "/up":        "../../../../etc",
		upper + "/loop":      "loop",
		upper + "/dangling":  "/nowhere",
		lower + "/etc/inner": "../srv/new",
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	// /opt is opaque in the upper layer: the lower /opt/old is hidden.
	if err := unix.Setxattr(upper+"/opt", layer.OpaqueXattr, []byte("y"), 0); err != nil {
		t.Logf("no user xattrs here (%v): the opaque directory is not tested", err)
		os.Remove(upper + "/opt")
		os.MkdirAll(upper+"/opt", 0o755)
		os.RemoveAll(lower + "/opt/old")
	}
	return []string{upper, lower}
}

func TestStatMerged(t *testing.T) {
	layers := testLayers(t)
	for _, c := range []struct {
		path string
		dir  bool
		err  error
	}{
		{"/", true, nil},
		{"/etc", true, nil},
		{"/etc/passwd", false, nil},
		{"/etc/passwd/x", false, unix.ENOTDIR},
		{"/usr/lib", true, nil},
		{"/lib", true, nil},
		{"/abs", true, nil},
		{"/lib/../etc", false, fs.ErrNotExist}, // .. of the resolved link: /usr/etc
		{"/up", true, nil},
		{"/etc/inner", true, nil},
		{"/srv/new", true, nil},
		{"/opt/old", false, fs.ErrNotExist},
		{"/gone/sub", false, unix.ENOTDIR},
		{"/new/dir", false, fs.ErrNotExist},
		{"/dangling", false, fs.ErrNotExist},
		{"/loop", false, unix.ELOOP},
	} {
		mode, err := statMerged(layers, c.path)
		switch {
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%s: %v, want %v", c.path, err, c.err)
		case c.err == nil && err != nil:
			t.Errorf("%s: %v", c.path, err)
		case c.err == nil && mode.IsDir() != c.dir:
			t.Errorf("%s: mode %v, want a directory: %v", c.path, mode, c.dir)
		}
	}
}

func TestCheckWorkdir(t *testing.T) {
	layers := testLayers(t)
	mounts := []specs.Mount{{Destination: "/data"}}
	for _, c := range []struct{ workdir, want string }{
		{"/etc", ""},
		{"/lib", ""},
		{"/data", ""},
		{"/data/sub/dir", ""},
		{"/new/dir", `workdir "/new/dir" does not exist in the container`},
		{"/datax", `workdir "/datax" does not exist`},
		{"relative", `workdir "relative" does not exist in the container: not an absolute path`},
		{"/etc/passwd", `workdir "/etc/passwd" exists in the container, but is not a directory`},
	} {
		err := checkWorkdir(layers, mounts, c.workdir)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.workdir, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.workdir, err, c.want)
		}
		if ExitCode(err) != container.ExitCannotExec {
			t.Errorf("%s: exit status %d, want 126", c.workdir, ExitCode(err))
		}
	}
}

func TestPullError(t *testing.T) {
	mirrors := errors.New(`(Mirrors also failed: [127.0.0.1:5000/library/nope:latest: reading manifest latest in 127.0.0.1:5000/library/nope: manifest unknown]): docker.io/library/nope:latest: pinging container registry registry-1.docker.io: dial tcp: no such host`)
	err := pullError("nope", []string{"docker.io/library/nope:latest"}, mirrors)
	want := "nope: image not known (docker.io/library/nope:latest: manifest unknown)"
	if err.Error() != want || !errors.Is(err, ErrImageNotFound) {
		t.Errorf("got %v, want %s", err, want)
	}
	other := errors.New("pinging container registry: dial tcp: no such host")
	if err := pullError("nope", nil, other); err != other {
		t.Errorf("got %v, want the error as it is", err)
	}
}
