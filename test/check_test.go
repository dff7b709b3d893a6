package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// damage runs a shell command in the store's user namespace (where the
// layers' files belong), in directory dir.
func damage(t *testing.T, root, dir, script string) {
	t.Helper()
	mustImg(t, root, "unshare", "sh", "-euc", "cd "+dir+"; "+script)
}

// TestSystemCheck: system check finds a deleted, a truncated and a changed
// file of a layer (--quick the first two), names them with their layer and
// image, and --repair removes the image so that a pull brings it back.
func TestSystemCheck(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	id := strings.TrimSpace(mustImg(t, root, "images", "-q", "--no-trunc").stdout)
	id = strings.TrimPrefix(id, "sha256:")
	img := listImages(t, root)[0]
	base, release := img.Layers[0], img.Layers[1]
	for _, flags := range [][]string{nil, {"--quick"}} {
		if r := rlessImg(t, root, append([]string{"system", "check"}, flags...)...); r.code != 0 || r.stdout != "" {
			t.Fatalf("check %v of a whole store: exit %d\n%s%s", flags, r.code, r.stdout, r.stderr)
		}
	}

	// A file deleted, a file cut short, a byte changed.
	damage(t, root, diffDir(root, release), "rm etc/alpine-release")
	damage(t, root, diffDir(root, base), "truncate -s 5 etc/group; printf X | dd of=etc/passwd bs=1 seek=3 conv=notrunc 2>/dev/null")
	full := rlessImg(t, root, "system", "check")
	quick := rlessImg(t, root, "system", "check", "--quick")
	t.Logf("system check:\n%s", full.stdout)
	for _, c := range []struct {
		r     result
		found []string
		not   []string
	}{
		{full, []string{"file etc/alpine-release: missing", "file etc/group: 5 bytes, recorded ", "file etc/passwd: its content differs"}, nil},
		{quick, []string{"file etc/alpine-release: missing", "file etc/group: 5 bytes, recorded "}, []string{"etc/passwd"}},
	} {
		if c.r.code != 1 {
			t.Errorf("check of a damaged layer: exit %d, want 1\n%s%s", c.r.code, c.r.stdout, c.r.stderr)
		}
		want := append([]string{
			"Damaged layer " + release + ":\n\tfile etc/alpine-release: missing\n",
			"Damaged layer " + base + ":\n\tfile etc/group: 5 bytes, recorded ",
			"Damaged image " + id[:12] + " (docker.io/library/alpine:latest):\n\tits layer " + base + " is damaged\n\tits layer " + release + " is damaged\n",
		}, c.found...)
		for _, w := range want {
			if !strings.Contains(c.r.stdout, w) {
				t.Errorf("check does not say %q:\n%s", w, c.r.stdout)
			}
		}
		for _, w := range c.not {
			if strings.Contains(c.r.stdout, w) {
				t.Errorf("check --quick reads content (says %q):\n%s", w, c.r.stdout)
			}
		}
	}

	r := mustImg(t, root, "system", "check", "--repair")
	t.Logf("system check --repair:\n%s", r.stdout)
	for _, w := range []string{"Removed image " + id[:12] + " (docker.io/library/alpine:latest)", "Removed layer " + base, "Removed layer " + release} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("check --repair does not say %q:\n%s", w, r.stdout)
		}
	}
	if strings.Count(r.stdout, "Removed layer") != 2 {
		t.Errorf("check --repair removed 2 layers, says:\n%s", r.stdout)
	}
	if out := mustImg(t, root, "images", "-q").stdout; out != "" {
		t.Errorf("images after the repair: %q", out)
	}
	if r := rlessImg(t, root, "system", "check"); r.code != 0 || r.stdout != "" {
		t.Errorf("check after the repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustImg(t, root, "pull", "-q", "alpine")
	if r := mustImg(t, root, "run", "--rm", "alpine", "cat", "/etc/alpine-release"); r.stdout != alpineFile {
		t.Errorf("run after the repair and pull: %q", r.stdout)
	}
	mustImg(t, root, "system", "check")
}

// TestSystemCheckLeftovers: what killed commands leave (storage of a
// container whose rless is gone, a layer being unpacked, image files being
// written, a trash entry) is reported and removed by --repair; an index
// that is not JSON is rebuilt; an image a running container uses is kept.
func TestSystemCheckLeftovers(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", "alpine")
	id := strings.TrimPrefix(strings.TrimSpace(mustImg(t, root, "images", "-q", "--no-trunc").stdout), "sha256:")
	dead := deadPid(t)
	ctr := filepath.Join(root, "containers", "0123456789ab")
	for _, d := range []string{filepath.Join(ctr, "upper", "etc"), filepath.Join(root, "layers", ".tmp-"+strings.Repeat("ab", 32), "diff"), filepath.Join(root, "images", ".tmp-123"), filepath.Join(root, "trash", "x00ff")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ctr, "owner.pid"), []byte(dead), 0o600); err != nil {
		t.Fatal(err)
	}
	r := rlessImg(t, root, "system", "check")
	for _, w := range []string{
		"Container storage without a container containers/0123456789ab:\n\tits rless (pid " + dead + ") is gone",
		"Left over layers/.tmp-abab", "Left over images/.tmp-123", "Left over trash/x00ff",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("check does not say %q:\n%s", w, r.stdout)
		}
	}
	if r.code != 1 || strings.Contains(r.stdout, "Damaged") {
		t.Errorf("check of leftovers: exit %d, want 1 and no damage\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustImg(t, root, "system", "check", "--repair")
	if r := rlessImg(t, root, "system", "check"); r.code != 0 || r.stdout != "" {
		t.Errorf("check after the repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := mustImg(t, root, "images", "-q", "--no-trunc").stdout; !strings.Contains(out, id) {
		t.Errorf("the repair of leftovers removed the image: %q", out)
	}

	// An index that is not JSON: rebuilt from the images' files, without
	// names.
	if err := os.WriteFile(filepath.Join(root, "images.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = rlessImg(t, root, "system", "check")
	if r.code != 1 || !strings.Contains(r.stdout, "Damaged index images.json:") {
		t.Errorf("check of a broken index: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = mustImg(t, root, "system", "check", "--repair")
	if !strings.Contains(r.stdout, "Rebuilt the index") {
		t.Errorf("check --repair of a broken index:\n%s", r.stdout)
	}
	mustImg(t, root, "tag", id, "alpine")
	if r := mustImg(t, root, "run", "--rm", "alpine", "cat", "/etc/alpine-release"); r.stdout != alpineFile {
		t.Errorf("run after the index was rebuilt: %q", r.stdout)
	}

	// A damaged image a running container uses is kept, and said so.
	mustImg(t, root, "run", "-d", "--name", "user", "alpine", "sleep", "1000")
	defer rlessImg(t, root, "rm", "-f", "-t", "0", "user")
	damage(t, root, diffDir(root, listImages(t, root)[0].Layers[1]), "rm etc/alpine-release")
	r = rlessImg(t, root, "system", "check", "--repair")
	if r.code != 1 || !strings.Contains(r.stdout, "Kept image "+id[:12]+" (localhost/alpine:latest): a container uses it") || !strings.Contains(r.stdout, "Still wrong after the repair:") {
		t.Errorf("repair of an image in use: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := mustImg(t, root, "exec", "user", "echo", "alive").stdout; out != "alive\n" {
		t.Errorf("the container after the repair: %q", out)
	}
}

// deadPid returns the pid of a process that has ended.
func deadPid(t *testing.T) string {
	t.Helper()
	cmd := rlessCmd("version")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(cmd.Process.Pid)
}
