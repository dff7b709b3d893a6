package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImagesWithOneID: with only the user's own id mapped (a user without
// a subordinate range, or newuidmap missing from PATH), images still run
// as podman's ignore_chown_errors runs them: the layers' owners squashed
// to the user, supplementary groups that cannot be mapped dropped, and
// one warning line.
func TestImagesWithOneID(t *testing.T) {
	registry(t)
	env := os.Environ()
	if len(subUIDs) > 0 {
		// This user has a range: hide newuidmap and newgidmap instead.
		env = append(env, "PATH="+pathWithout(t, "newuidmap", "newgidmap"))
	}
	root := imageStore(t)
	cmd := func(args ...string) result {
		c := imgCmd(root, args...)
		c.Env = append(env, c.Env[len(os.Environ()):]...)
		return runCmd(t, c)
	}
	for _, ref := range []string{"alpine", regAddr + "/" + debianRef} {
		if r := cmd("pull", "-q", ref); r.code != 0 {
			t.Fatalf("pull %s: exit %d\n%s", ref, r.code, r.stderr)
		}
	}
	// alpine's root is a member of wheel (10), which is not mapped.
	r := cmd("run", "--rm", "alpine", "id")
	if r.code != 0 || r.stdout != "uid=0(root) gid=0(root) groups=0(root)\n" {
		t.Errorf("alpine id: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	checkOneWarning(t, "alpine id", r.stderr, "10")

	r = cmd("run", "--rm", regAddr+"/"+debianRef, "apt-get", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "apt ") {
		t.Errorf("apt-get --version: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.TrimSpace(r.stderr) != "" {
		t.Errorf("apt-get --version: stderr %q", r.stderr)
	}
	// The files of Debian's system users are the user's (root's) now.
	r = cmd("run", "--rm", regAddr+"/"+debianRef, "/lib64/ld-linux-x86-64.so.2", "--list", "/usr/bin/apt-get")
	if r.code != 0 {
		t.Errorf("the loader in the image: exit %d\n%s", r.code, r.stderr)
	}
}

// checkOneWarning checks that stderr is one warning line that mentions
// what.
func checkOneWarning(t *testing.T, name, stderr, what string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "WARN") || !strings.Contains(lines[0], what) {
		t.Errorf("%s: want one warning line about %s, got %q", name, what, stderr)
	}
}

// pathWithout is a PATH of one directory holding links to the programs
// of this PATH, except names.
func pathWithout(t *testing.T, names ...string) string {
	dir := t.TempDir()
	skip := map[string]bool{}
	for _, n := range names {
		skip[n] = true
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if skip[e.Name()] {
				continue
			}
			// The first of a name wins, as in a PATH lookup.
			_ = os.Symlink(filepath.Join(d, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	return dir
}
