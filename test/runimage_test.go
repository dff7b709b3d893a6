package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rless/rless/internal/testenv"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/terminal"
)

// waitForContainer waits (up to 5 s) until the test run root lists a
// container (container.List): rless has written its state and the
// container is being set up or runs; with running, until one's command
// runs (its storage is made then). It returns the containers listed, and
// fails the test when none is listed in time.
func waitForContainer(t *testing.T, running bool) []container.State {
	t.Helper()
	var err error
	for i := 0; i < 500; i++ {
		var live []container.State
		live, err = container.List(runRoot)
		for _, st := range live {
			if !running || st.Status == container.Running {
				return live
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no container listed (running: %v) in %s after 5 s (last error: %v)", running, runRoot, err)
	return nil
}

// containersLeft lists the container storage directories of a store.
func containersLeft(root string) []string {
	entries, _ := os.ReadDir(filepath.Join(root, "containers"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestRunImage(t *testing.T) {
	registry(t)
	root := imageStore(t)
	before := takeSnapshot(t)
	// The image is pulled first, then run.
	r := mustImg(t, root, "run", "--rm", "alpine", "cat", "/etc/alpine-release")
	if r.stdout != alpineFile || !strings.Contains(r.stderr, "Trying to pull docker.io/library/alpine:latest") {
		t.Errorf("run alpine: %q\n%s", r.stdout, r.stderr)
	}
	assertClean(t, before)
	r = mustImg(t, root, "run", "--rm", "alpine", "sh", "-c", "echo made > /made; cat /made; cat /etc/hostname; echo; hostname")
	lines := strings.Split(r.stdout, "\n")
	// Without a range, alpine's root cannot have its group wheel: one
	// warning says so.
	if len(subUIDs) == 0 && strings.HasPrefix(r.stderr, "WARN: supplementary groups 10 are not mapped") && strings.Count(r.stderr, "\n") == 1 {
		r.stderr = ""
	}
	if len(lines) < 3 || lines[0] != "made" || lines[1] != lines[2] || r.stderr != "" {
		t.Errorf("run: %q %q", r.stdout, r.stderr)
	}
	// Nothing the container wrote reached the image's layers, and its
	// writable layer is gone.
	for _, img := range listImages(t, root) {
		for _, l := range img.Layers {
			if _, err := os.Stat(filepath.Join(diffDir(root, l), "made")); err == nil {
				t.Errorf("a file the container made is in layer %s", l)
			}
		}
	}
	if left := containersLeft(root); len(left) > 0 {
		t.Errorf("container storage left: %v", left)
	}
	if r := rlessImg(t, root, "run", "--pull=never", "rless/nosuch", "true"); r.code != 125 || !strings.Contains(r.stderr, "image not known") {
		t.Errorf("--pull=never of a missing image: exit %d %s", r.code, r.stderr)
	}
	if r := rlessImg(t, root, "run", "alpine", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exit status: %d", r.code)
	}
	if r := rlessImg(t, root, "run", "--entrypoint", "echo", "alpine", "from", "entrypoint"); r.stdout != "from entrypoint\n" {
		t.Errorf("--entrypoint: %q %s", r.stdout, r.stderr)
	}
	// An image a container uses is not removed.
	startBackground(t, imgCmd(root, "run", "alpine", "sleep", "60"))
	waitForContainer(t, false)
	if r := rlessImg(t, root, "rmi", "alpine"); r.code != 2 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("rmi of an image in use: exit %d %s", r.code, r.stderr)
	}
	if r := rlessImg(t, root, "run", "--read-only", "alpine", "sh", "-c", "touch /tmp/ok && ! touch /nope 2>/dev/null && echo ro"); r.stdout != "ro\n" {
		t.Errorf("--read-only: %q %s", r.stdout, r.stderr)
	}
}

func TestRunImageConfig(t *testing.T) {
	registry(t)
	root := imageStore(t)
	ref := regAddr + "/" + multiRef
	script := `id -u; id -g; id -G; pwd; echo $RLESS_TEST; ls /data; test -e /bin/vi || echo no vi`
	rest := "/data\nmultilayer\nhard1\nhard2\nkeep\nsetuid\nno vi\n"
	if len(subUIDs) == 0 {
		// The image's USER (1234) needs a subordinate range.
		mustImg(t, root, "pull", "-q", ref)
		if r := rlessImg(t, root, "run", "--rm", ref, "true"); r.code != 126 || !strings.Contains(r.stderr, "uid 1234 is outside the 1 uid mapped") {
			t.Errorf("USER without a range: exit %d %s", r.code, r.stderr)
		}
		if r := mustImg(t, root, "run", "--rm", "-u", "0", ref, "sh", "-c", script); r.stdout != "0\n0\n0\n"+rest {
			t.Errorf("image config as root: got\n%s", r.stdout)
		}
		return
	}
	if r := mustImg(t, root, "run", "--rm", ref, "sh", "-c", script); r.stdout != "1234\n1234\n1234 50\n"+rest {
		t.Errorf("image config: got\n%s\nwant USER 1234 with group 50, then\n%s", r.stdout, rest)
	}
	// The image's StopSignal is the container's, for whatever stops it.
	for _, tc := range []struct {
		flags []string
		want  string
	}{{nil, "SIGUSR2"}, {[]string{"--stop-signal", "RTMIN+3"}, "SIGRTMIN+3"}} {
		args := append(append([]string{"run"}, tc.flags...), ref, "sleep", "30")
		stop := startBackground(t, imgCmd(root, args...))
		live := waitForContainer(t, false)
		var got string
		if len(live) == 1 {
			got = live[0].Spec.Annotations["org.opencontainers.image.stopSignal"]
		}
		if got != tc.want {
			t.Errorf("stop signal %v: %q in %d listed containers, want %s", tc.flags, got, len(live), tc.want)
		}
		stop()
	}
	if r := rlessImg(t, root, "run", "--rm", "--stop-signal", "NOPE", ref, "true"); r.code != 125 || !strings.Contains(r.stderr, `invalid signal "NOPE"`) {
		t.Errorf("--stop-signal NOPE: exit %d %s", r.code, r.stderr)
	}
}

func TestRunImageVolumes(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	src := t.TempDir()
	mustImg(t, root, "run", "--rm", "-v", src+":/src", "alpine", "sh", "-c", "echo x > /src/new")
	if uid := statOwner(t, filepath.Join(src, "new")); uid != uint32(os.Getuid()) {
		t.Errorf("a file root made in a volume belongs to %d on the host, want %d", uid, os.Getuid())
	}
	r := rlessImg(t, root, "run", "--rm", "-v", "/etc/shadow:/shadow:ro", "alpine", "cat", "/shadow")
	if r.code == 0 || !strings.Contains(r.stderr, "ermission denied") {
		t.Errorf("a host file the user cannot read was read in the container: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := rlessImg(t, root, "run", "--rm", "-v", "/nonexistent/dir:/x", "alpine", "true"); r.code != 125 {
		t.Errorf("volume of a missing host path: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat("/nonexistent/dir"); err == nil {
		t.Error("a missing volume source was created")
	}
	r = mustImg(t, root, "run", "--rm", "--tmpfs", "/scratch:size=1m", "--mount", "type=bind,src="+src+",dst=/m,ro", "alpine", "sh", "-c", "cat /m/new; touch /scratch/a && echo tmpfs; touch /m/b 2>/dev/null || echo ro")
	if r.stdout != "x\ntmpfs\nro\n" {
		t.Errorf("--tmpfs and --mount: %q %s", r.stdout, r.stderr)
	}
}

// TestRunImageTTY: an interactive shell in an image, through a pty.
func TestRunImageTTY(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	t.Setenv("CONTAINERS_REGISTRIES_CONF", regConf)
	p := startPTY(t, terminal.Size{Rows: 24, Cols: 80}, "--root", root, "run", "-it", "--rm", "alpine", "sh")
	p.write(t, "cat /etc/alpine-release; echo $((6*7))\n")
	p.waitFor(t, "42")
	p.write(t, "exit 3\n")
	if code := p.wait(t); code != 3 {
		t.Errorf("shell exit: %d\n%s", code, p.output())
	}
	if !strings.Contains(p.output(), strings.TrimSpace(alpineFile)) {
		t.Errorf("no release in the shell's output:\n%s", p.output())
	}
}

// TestRunImageDrivers runs images with each way of making their root:
// the kernel's overlayfs, fuse-overlayfs, and a copy (--storage-driver vfs).
func TestRunImageDrivers(t *testing.T) {
	registry(t)
	for _, d := range []struct {
		name  string
		flags []string
	}{
		{"overlay", nil},
		{"fuse-overlayfs", []string{"--storage-opt", "overlay.mount_program=fuse-overlayfs"}},
		{"vfs", []string{"--storage-driver", "vfs"}},
	} {
		t.Run(d.name, func(t *testing.T) {
			if d.name == "fuse-overlayfs" {
				if _, err := exec.LookPath("fuse-overlayfs"); err != nil {
					testenv.SkipWithout(t, "fuse-overlayfs is not installed")
				}
				if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
					testenv.SkipWithout(t, fmt.Sprintf("/dev/fuse is not usable by this user: %v", err))
				} else {
					f.Close()
				}
			}
			root := imageStore(t)
			before := takeSnapshot(t)
			run := func(args ...string) result {
				return mustImg(t, root, append(append(append([]string{}, d.flags...), "run", "--rm", "-u", "0"), args...)...)
			}
			script := `cat /etc/alpine-release 2>/dev/null; ls /data | tr '\n' ' '; ls /opaque; test -e /bin/vi || echo no vi; echo new > /data/new; cat /data/new /data/hard2; stat -c %a /data/setuid`
			r := run(regAddr+"/"+multiRef, "sh", "-c", script)
			want := "hard1 hard2 keep setuid new\nno vi\nnew\nlinked\n4755\n"
			if r.stdout != want {
				t.Errorf("%s: got\n%s\nwant\n%s%s", d.name, r.stdout, want, r.stderr)
			}
			if r := run("alpine", "cat", "/etc/alpine-release"); r.stdout != alpineFile {
				t.Errorf("%s: alpine: %q", d.name, r.stdout)
			}
			if len(subUIDs) > 0 {
				src := t.TempDir()
				args := append(append([]string{}, d.flags...), "run", "--rm", "--userns=keep-id", "-v", src+":/src", regAddr+"/"+multiRef,
					"sh", "-c", "id -u; stat -c %u:%g / /home/alice; ls /data | tr '\\n' ' '; touch /src/f")
				want := fmt.Sprintf("%d\n0:0\n1234:1234\nhard1 hard2 keep setuid ", os.Getuid())
				if r := mustImg(t, root, args...); r.stdout != want {
					t.Errorf("%s: keep-id: got\n%s\nwant\n%s%s", d.name, r.stdout, want, r.stderr)
				}
				if owner := statOwner(t, filepath.Join(src, "f")); owner != uint32(os.Getuid()) {
					t.Errorf("%s: keep-id: a file made in a volume belongs to %d", d.name, owner)
				}
			}
			if left := containersLeft(root); len(left) > 0 {
				t.Errorf("container storage left: %v", left)
			}
			assertClean(t, before)
		})
	}
}

// TestVolumes: named volumes outlive containers, are made on first use,
// and are listed, inspected and removed; one in use is not removed.
func TestVolumes(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	if out := mustImg(t, root, "volume", "create", "data").stdout; out != "data\n" {
		t.Errorf("volume create: %q", out)
	}
	if r := rlessImg(t, root, "volume", "create", "data"); r.code != 125 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second create: exit %d %s", r.code, r.stderr)
	}
	mustImg(t, root, "run", "--rm", "-v", "data:/data", "alpine", "sh", "-c", "echo kept > /data/f; chown 1234 /data/f 2>/dev/null; true")
	if r := mustImg(t, root, "run", "--rm", "--mount", "type=volume,src=data,dst=/v,ro", "alpine", "sh", "-c", "cat /v/f; touch /v/x 2>/dev/null || echo ro"); r.stdout != "kept\nro\n" {
		t.Errorf("the volume's content in a second container: %q %s", r.stdout, r.stderr)
	}
	mustImg(t, root, "run", "--rm", "-v", "auto:/a", "alpine", "true") // made on first use
	if out := mustImg(t, root, "volume", "ls", "-q").stdout; out != "auto\ndata\n" {
		t.Errorf("volume ls -q: %q", out)
	}
	var vs []map[string]any
	if err := json.Unmarshal([]byte(mustImg(t, root, "volume", "inspect", "data").stdout), &vs); err != nil || len(vs) != 1 || vs[0]["Mountpoint"] == "" {
		t.Errorf("volume inspect: %v %v", vs, err)
	}
	// In use: refused (2); then removed with its content, inside the
	// user namespace for files of other owners.
	stop := startBackground(t, imgCmd(root, "run", "-v", "data:/data", "alpine", "sleep", "60"))
	waitForContainer(t, false)
	if r := rlessImg(t, root, "volume", "rm", "data"); r.code != 2 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("volume rm of a volume in use: exit %d %s", r.code, r.stderr)
	}
	stop()
	if out := mustImg(t, root, "volume", "rm", "data").stdout; out != "data\n" {
		t.Errorf("volume rm: %q", out)
	}
	if out := mustImg(t, root, "volume", "prune").stdout; out != "auto\n" {
		t.Errorf("volume prune: %q", out)
	}
	if r := rlessImg(t, root, "volume", "rm", "data"); r.code != 1 {
		t.Errorf("rm of a missing volume: exit %d %s", r.code, r.stderr)
	}
}

// TestVolumeChown: -v …:U gives the source to the container's user.
func TestVolumeChown(t *testing.T) {
	registry(t)
	root := imageStore(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "old"), []byte("x"), 0o600)
	ref, uid := regAddr+"/"+multiRef, uint32(os.Getuid())
	if len(subUIDs) > 0 {
		uid = subUIDs[0].Start + multilayerUID - 1 // the image's USER, 1234
	} else {
		ref = "alpine" // root: the only id there is
	}
	r := mustImg(t, root, "run", "--rm", "-v", src+":/u:U", ref, "sh", "-c", "touch /u/new && cat /u/old && echo ok")
	if r.stdout != "xok\n" {
		t.Errorf("-v :U: %q %s", r.stdout, r.stderr)
	}
	if got := statOwner(t, src); got != uid {
		t.Errorf("owner of the volume on the host: %d, want %d", got, uid)
	}
	// Give it back, for the test's clean-up.
	if out, err := rlessCmd("unshare", "chown", "-R", "0:0", src).CombinedOutput(); err != nil {
		t.Fatalf("chown back: %v %s", err, out)
	}
}

// TestRunImageKilled: the storage of a container whose rless was killed
// goes with the next run, and no mount of it remains.
func TestRunImageKilled(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	before := takeSnapshot(t)
	// Not startBackground: rless is killed, not stopped. Should the test
	// fail before the kill, the clean-up kills it all the same.
	cmd := imgCmd(root, "run", "alpine", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := sync.OnceFunc(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	t.Cleanup(kill)
	waitForContainer(t, true)
	kill()
	if after := waitProcessesGone(t, before); len(newPids(before, after)) > 0 || after.mounts != before.mounts {
		t.Errorf("left after SIGKILL: processes %v, mounts changed: %v", newPids(before, after), after.mounts != before.mounts)
	}
	if len(containersLeft(root)) != 1 {
		t.Fatalf("container storage after the kill: %v", containersLeft(root))
	}
	mustImg(t, root, "run", "--rm", "alpine", "true")
	if left := containersLeft(root); len(left) > 0 {
		t.Errorf("a killed container's storage is still there: %v", left)
	}
	assertClean(t, before)
}

// TestRunImageKeepID: with --userns=keep-id the user's ids are the same
// inside, files written to a bind mount belong to the user, and the image's
// files keep their owners (root's stay root's).
func TestRunImageKeepID(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	src := t.TempDir()
	if len(subUIDs) == 0 {
		r := rlessImg(t, root, "run", "--rm", "--userns=keep-id", "alpine", "true")
		if r.code != 125 || !strings.Contains(r.stderr, "keep-id needs") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("keep-id without a range: exit %d %q", r.code, r.stderr)
		}
		return
	}
	before := takeSnapshot(t)
	uid, gid := os.Getuid(), os.Getgid()
	script := `id -u; id -g; whoami; echo $HOME; stat -c '%u:%g' / /etc/passwd /bin/busybox; touch /src/new; touch /etc/x 2>/dev/null || echo ro-etc`
	r := mustImg(t, root, "run", "--rm", "--userns=keep-id", "-v", src+":/src", "alpine", "sh", "-c", script)
	me := currentUser(t)
	want := fmt.Sprintf("%d\n%d\n%s\n%s\n0:0\n0:0\n0:0\nro-etc\n", uid, gid, me.Username, me.HomeDir)
	if r.stdout != want {
		t.Errorf("keep-id: got\n%s\nwant\n%s%s", r.stdout, want, r.stderr)
	}
	if owner := statOwner(t, filepath.Join(src, "new")); owner != uint32(uid) {
		t.Errorf("a file made with keep-id belongs to %d on the host, want %d", owner, uid)
	}
	if r := rlessImg(t, root, "run", "--rm", "--userns=keep-id", "alpine", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("keep-id: exit status %d, want 7 (%s)", r.code, r.stderr)
	}
	if r := rlessImg(t, root, "run", "--rm", "--userns=keep-id", "alpine", "sh", "-c", "kill -TERM $$"); r.code != 143 {
		t.Errorf("keep-id: killed by SIGTERM: exit %d, want 143 (%s)", r.code, r.stderr)
	}
	// exec into a detached keep-id container: the init is the
	// container's root, a subordinate id, and its exec socket must still
	// let the user in.
	mustImg(t, root, "run", "-d", "--name", "kid", "--userns=keep-id", "alpine", "sleep", "600")
	if r := rlessImg(t, root, "exec", "kid", "id", "-u"); r.code != 0 || r.stdout != fmt.Sprintf("%d\n", uid) {
		t.Errorf("keep-id: exec: exit %d, stdout %q, want %d (%s)", r.code, r.stdout, uid, r.stderr)
	}
	mustImg(t, root, "rm", "-f", "kid")
	// Their storage went at once: its directories belong to subordinate
	// ids, which no later run could remove from the trash.
	if trash, _ := filepath.Glob(filepath.Join(root, "trash", "ctr-*")); len(trash) > 0 {
		t.Errorf("keep-id containers' storage in the trash: %v", trash)
	}
	// Other ids, other images: the image's USER keeps its files, and
	// uid= and gid= place the user elsewhere.
	ref := regAddr + "/" + multiRef
	mustImg(t, root, "pull", "-q", ref)
	r = mustImg(t, root, "run", "--rm", "--userns=keep-id:uid=1234,gid=50", "-v", src+":/src", ref,
		"sh", "-c", "id -u; id -g; stat -c '%u:%g %a' /home/alice/owned /data/setuid; cat /home/alice/owned; touch /src/alice")
	if want := "1234\n50\n1234:1234 644\n0:0 4755\nalice's\n"; r.stdout != want {
		t.Errorf("keep-id:uid=1234: got\n%s\nwant\n%s%s", r.stdout, want, r.stderr)
	}
	if owner := statOwner(t, filepath.Join(src, "alice")); owner != uint32(uid) {
		t.Errorf("a file made as keep-id's uid 1234 belongs to %d on the host, want %d", owner, uid)
	}
	// The default layout is unchanged by it.
	if r := mustImg(t, root, "run", "--rm", "-u", "0", ref, "stat", "-c", "%u", "/home/alice/owned"); r.stdout != "1234\n" {
		t.Errorf("after keep-id, the default layout sees %q", r.stdout)
	}
	for _, bad := range []string{"keep-id:uid=x", "keep-id:size=3", "auto", "host:x"} {
		if r := rlessImg(t, root, "run", "--rm", "--userns="+bad, "alpine", "true"); r.code != 125 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("--userns=%s: exit %d %q", bad, r.code, r.stderr)
		}
	}
	if left := containersLeft(root); len(left) > 0 {
		t.Errorf("container storage left: %v", left)
	}
	// rmi takes the image's keep-id copy with it.
	mustImg(t, root, "rmi", ref)
	assertClean(t, before)
}

func currentUser(t *testing.T) *user.User {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOverlayDetection: the driver that works is found once, reported by
// info and cached; a cached answer is what runs use.
func TestOverlayDetection(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	r := mustImg(t, root, "info", "--format", "{{.Store.Overlay.Driver}}")
	if r.stdout != "overlay\n" {
		t.Fatalf("info: overlay driver %q, want overlay (kernel %s)", r.stdout, r.stderr)
	}
	cache := filepath.Join(root, "overlay.json")
	data, err := os.ReadFile(cache)
	if err != nil {
		t.Fatalf("no cached answer: %v", err)
	}
	rootFS := `sed -n 's/^[^ ]* [^ ]* [^ ]* [^ ]* \/ .* - \([^ ]*\) .*/\1/p' /proc/self/mountinfo | head -1`
	if r := mustImg(t, root, "run", "--rm", "alpine", "sh", "-c", rootFS); r.stdout != "overlay\n" {
		t.Errorf("root file system %q, want overlay", r.stdout)
	}
	// A store where the probe found only the copy fallback copies, as
	// long as the FUSE program found is the one it found (here, where
	// that did not work).
	var d map[string]string
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	fuse, _ := exec.LookPath("fuse-overlayfs")
	d["driver"], d["found"] = "copy", fuse
	data, _ = json.Marshal(d)
	if err := os.WriteFile(cache, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mustImg(t, root, "run", "--rm", "alpine", "sh", "-c", rootFS+"; cat /etc/alpine-release"); r.stdout == "overlay\n" || !strings.HasSuffix(r.stdout, alpineFile) {
		t.Errorf("with copy cached: %q", r.stdout)
	}
	if r := mustImg(t, root, "info"); !strings.Contains(r.stdout, "overlay driver: copy") {
		t.Errorf("info with copy cached:\n%s", r.stdout)
	}
	// A FUSE program installed or removed since the probe: probed again.
	d["found"] = "/nonexistent/fuse-overlayfs"
	data, _ = json.Marshal(d)
	if err := os.WriteFile(cache, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mustImg(t, root, "run", "--rm", "alpine", "sh", "-c", rootFS); r.stdout != "overlay\n" {
		t.Errorf("with a stale copy cached: root file system %q, want overlay", r.stdout)
	}
	if r := mustImg(t, root, "info", "--format", "{{.Store.Overlay.Driver}}"); r.stdout != "overlay\n" {
		t.Errorf("info after the stale cache: %q", r.stdout)
	}
}
