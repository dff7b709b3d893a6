package test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rless/rless/internal/testenv"
)

// The tests of a full disk put a store (or a temporary directory) on a
// small filesystem of the user's (testenv.SmallFS), fill it, and check
// that rless names the fault in one line (diskfault's "no space left on
// device: writing WHAT into DIR"), keeps nothing half-made, and works
// again once there is room.

// smallFS is testenv.SmallFS, which the test must leave empty: the
// directory goes at the end, after the store in it (t.Cleanup runs last
// what was registered first).
func smallFS(t *testing.T) string {
	t.Helper()
	dir := testenv.SmallFS(t)
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("the small filesystem is left with content: %v", err)
		}
	})
	return dir
}

// fill writes a file into dir until its filesystem is full, and returns
// the file's path; it is removed at the end of the test if still there.
func fill(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	buf := make([]byte, 64<<10)
	for err == nil {
		_, err = f.Write(buf)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fill %s: %v", dir, err)
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	return f.Name()
}

// wantDiskFault fails t unless r is rless failing (exit 125) on a full
// disk in one error line that names dir.
func wantDiskFault(t *testing.T, what string, r result, dir string) {
	t.Helper()
	if r.code != 125 || !strings.Contains(r.stderr, "no space left on device: writing ") || !strings.Contains(r.stderr, " into "+dir+"\n") {
		t.Errorf("%s on a full disk: exit %d, want 125 and %q naming %s:\n%s", what, r.code, "no space left on device", dir, r.stderr)
	} else if lines := errorLines(r.stderr); len(lines) != 1 || !strings.HasPrefix(lines[0], "Error: ") {
		t.Errorf("%s on a full disk: want one error line on the disk:\n%s", what, r.stderr)
	}
}

// errorLines are the lines of stderr but warnings (such as the one of a
// user without a subordinate range about the groups it cannot map).
func errorLines(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "WARN: ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// storeBytes is the size of the regular files under root.
func storeBytes(root string) int64 {
	var used int64
	_ = filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			used += fi.Size()
		}
		return nil
	})
	return used
}

// wantNoContainers fails t if the store root keeps anything of a
// container (see assertStoreClean) or lists one.
func wantNoContainers(t *testing.T, what, root string) {
	t.Helper()
	assertStoreClean(t, root)
	if ps := mustImg(t, root, "ps", "-aq").stdout; ps != "" {
		t.Errorf("%s: containers left: %q", what, ps)
	}
}

// TestPullDiskFull: a pull into a store on a full filesystem fails saying
// so (not as a corrupt blob), naming the store; it keeps nothing of what it
// wrote, and a later pull into the same store works.
func TestPullDiskFull(t *testing.T) {
	registry(t)
	root := imageStoreIn(t, smallFS(t))
	r := rlessImg(t, root, "pull", "-q", regAddr+"/"+bigRef)
	wantDiskFault(t, "pull", r, filepath.Join(root, "layers"))
	if strings.Contains(r.stderr, "digest") {
		t.Errorf("pull onto a full disk: a digest is blamed:\n%s", r.stderr)
	}
	if out := mustImg(t, root, "images", "-q").stdout; out != "" {
		t.Errorf("images after the failed pull: %q", out)
	}
	// What the pull wrote is gone: the small filesystem has room again.
	if used := storeBytes(root); used > 1<<20 {
		t.Errorf("the failed pull left %d bytes in the store", used)
	}
	if r := rlessImg(t, root, "pull", "-q", "alpine"); r.code != 0 {
		t.Fatalf("a later pull into the same store: exit %d\n%s", r.code, r.stderr)
	}
	if r := rlessImg(t, root, "run", "--rm", "alpine", "cat", "/etc/alpine-release"); r.code != 0 || r.stdout != alpineFile {
		t.Errorf("run after the pull: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestLoadDiskFull: load of an archive bigger than the room left, in
// either format, fails naming the store when its filesystem is full, and
// naming the temporary directory ($TMPDIR, as podman's) when that one is;
// it keeps nothing, and a later load into the same store works.
func TestLoadDiskFull(t *testing.T) {
	registry(t)
	src := imageStore(t)
	mustImg(t, src, "pull", "-q", regAddr+"/"+bigRef)
	mustImg(t, src, "pull", "-q", "alpine")
	dir := t.TempDir()
	docker, oci := filepath.Join(dir, "big-d.tar"), filepath.Join(dir, "big-o.tar")
	small, smallOCI := filepath.Join(dir, "alpine-d.tar"), filepath.Join(dir, "alpine-o.tar")
	mustImg(t, src, "save", "-o", docker, regAddr+"/"+bigRef)
	mustImg(t, src, "save", "--format", "oci-archive", "-o", oci, regAddr+"/"+bigRef)
	mustImg(t, src, "save", "-o", small, "alpine")
	mustImg(t, src, "save", "--format", "oci-archive", "-o", smallOCI, "alpine")

	fs := smallFS(t)
	root := imageStoreIn(t, fs)
	for _, archive := range []string{docker, oci} {
		what := "load " + filepath.Base(archive)
		wantDiskFault(t, what, rlessImg(t, root, "load", "-q", "-i", archive), filepath.Join(root, "layers"))
		if out := mustImg(t, root, "images", "-q").stdout; out != "" {
			t.Errorf("images after the failed %s: %q", what, out)
		}
		if used := storeBytes(root); used > 1<<20 {
			t.Errorf("the failed %s left %d bytes in the store", what, used)
		}
	}
	if r := rlessImg(t, root, "load", "-q", "-i", small); r.code != 0 {
		t.Fatalf("a later load into the same store: exit %d\n%s", r.code, r.stderr)
	}
	if r := rlessImg(t, root, "run", "--rm", "alpine", "cat", "/etc/alpine-release"); r.code != 0 || r.stdout != alpineFile {
		t.Errorf("run after the load: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}

	// The store has room, the temporary directory has not: the
	// oci-archive's content and the copy of an archive read from stdin go
	// there. (The small filesystem holds it alone.)
	mustImg(t, root, "rmi", "alpine")
	tmp := filepath.Join(fs, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(tmp) })
	fresh, runDir := imageStore(t), t.TempDir()
	load := func(archive string, args ...string) result {
		cmd := imgCmd(fresh, append([]string{"load", "-q"}, args...)...)
		// The run root (where the image engine is unpacked) elsewhere.
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp, "XDG_RUNTIME_DIR="+runDir)
		if archive != "" {
			f, err := os.Open(archive)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd.Stdin = f
		}
		return runCmd(t, cmd)
	}
	wantDiskFault(t, "load of an oci-archive", load("", "-i", oci), tmp)
	wantDiskFault(t, "load from stdin", load(docker), tmp)
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("left in the temporary directory: %v", entries)
	}
	if out := mustImg(t, fresh, "images", "-q").stdout; out != "" {
		t.Errorf("images after the failed loads: %q", out)
	}
	if r := load("", "-i", smallOCI); r.code != 0 {
		t.Errorf("load with room in the temporary directory: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRunDiskFull: run on a store whose filesystem is full fails naming
// the containers directory, leaving no container storage, process or
// mount; a container that fills the disk itself gets its command's own
// error, and is cleaned up as usual, after which the store works.
func TestRunDiskFull(t *testing.T) {
	registry(t)
	fs := smallFS(t)
	root := imageStoreIn(t, fs)
	mustImg(t, root, "pull", "-q", "alpine")
	ctrs := filepath.Join(root, "containers")

	before := takeSnapshot(t)
	filler := fill(t, fs)
	for _, c := range []struct {
		args []string
		dir  string // the one named
	}{
		{[]string{"run", "--rm"}, ctrs},
		{[]string{"run", "--name", "named"}, ctrs},
		// A detached container is recorded first.
		{[]string{"create"}, filepath.Join(root, "containers.d")},
		{[]string{"run", "-d"}, filepath.Join(root, "containers.d")},
	} {
		what := strings.Join(c.args, " ")
		wantDiskFault(t, what, rlessImg(t, root, append(c.args, "alpine", "true")...), c.dir)
		wantNoContainers(t, what, root)
	}
	assertClean(t, before)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if r := rlessImg(t, root, "run", "--rm", "alpine", "cat", "/etc/alpine-release"); r.code != 0 || r.stdout != alpineFile {
		t.Fatalf("run with room again: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}

	// The container fills the disk: its command fails (dd's exit status
	// and message), rless does not; --rm takes the filler away with it.
	dd := []string{"alpine", "dd", "if=/dev/zero", "of=/filler", "bs=64k"}
	used := storeBytes(root)
	before = takeSnapshot(t)
	r := rlessImg(t, root, append([]string{"run", "--rm"}, dd...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "No space left on device") || strings.Contains(r.stderr, "Error:") {
		t.Errorf("dd filling the disk: exit %d, want dd's 1 and its message only:\n%s", r.code, r.stderr)
	}
	assertClean(t, before)
	wantNoContainers(t, "run --rm of dd", root)
	if now := storeBytes(root); now > used {
		t.Errorf("the store holds %d bytes after run --rm of dd, %d before", now, used)
	}
	// Detached, it keeps the disk full until it is removed.
	runDetached(t, root, append([]string{"--name", "filler"}, dd...)...)
	waitStatus(t, root, "filler", "Exited (1)")
	wantDiskFault(t, "run beside a container that filled the disk", rlessImg(t, root, "run", "--rm", "alpine", "true"), ctrs)
	mustImg(t, root, "rm", "filler")
	wantNoContainers(t, "rm of the filler", root)
	if r := rlessImg(t, root, "run", "--rm", "alpine", "cat", "/etc/alpine-release"); r.code != 0 || r.stdout != alpineFile {
		t.Errorf("run after the filler's removal: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestVolumeDiskFull: a named volume (made by volume create, or by run
// for a -v of a name not yet used) on a full filesystem fails naming the
// volumes directory, and no half-made volume is left.
func TestVolumeDiskFull(t *testing.T) {
	registry(t)
	fs := smallFS(t)
	root := imageStoreIn(t, fs)
	mustImg(t, root, "pull", "-q", "alpine")
	vols := filepath.Join(root, "volumes")
	filler := fill(t, fs)
	wantDiskFault(t, "volume create", rlessImg(t, root, "volume", "create", "v1"), vols)
	wantDiskFault(t, "run -v", rlessImg(t, root, "run", "--rm", "-v", "v2:/data", "alpine", "true"), vols)
	if ls := mustImg(t, root, "volume", "ls", "-q").stdout; ls != "" {
		t.Errorf("volumes after the failures: %q", ls)
	}
	if entries, _ := os.ReadDir(vols); len(entries) > 0 {
		t.Errorf("left in %s: %v", vols, entries)
	}
	wantNoContainers(t, "run -v", root)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if r := rlessImg(t, root, "run", "--rm", "-v", "v2:/data", "alpine", "sh", "-c", "echo ok >/data/f && cat /data/f"); r.code != 0 || r.stdout != "ok\n" {
		t.Errorf("run -v with room again: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
	mustImg(t, root, "volume", "rm", "v2")
}
