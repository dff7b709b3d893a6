package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rless/rless/internal/testenv"
)

// podmanEnv is a rootless podman of the test's own: its containers.conf
// and storage (vfs) under dir, its own XDG_RUNTIME_DIR (so its pause
// process is the test's) and the test registries.conf; runtime is the OCI
// runtime it runs (a path), or podman's own (runc) where it is empty.
type podmanEnv struct {
	dir, xdg string
	env      []string
	runtime  string
}

// newPodman is a podman that runs rless as its OCI runtime, by path.
func newPodman(t *testing.T) *podmanEnv {
	t.Helper()
	return newPodmanWith(t, rless)
}

// newPodmanWith is a podman that runs runtime ("" for its own).
func newPodmanWith(t *testing.T, runtime string) *podmanEnv {
	t.Helper()
	for _, p := range []string{"podman", "conmon", "runc"} {
		if _, err := exec.LookPath(p); err != nil {
			testenv.SkipWithout(t, p+" is not installed")
		}
	}
	// Not t.TempDir: podman's storage holds files of subordinate ids,
	// which only `podman unshare` can remove. A short path: podman 4.3 with
	// runc waits 20 s for every container's exit where the paths under
	// its XDG_RUNTIME_DIR are long.
	dir, err := os.MkdirTemp("", "pm")
	if err != nil {
		t.Fatal(err)
	}
	p := &podmanEnv{dir: dir, xdg: filepath.Join(dir, "xdg"), runtime: runtime}
	if err := os.Mkdir(p.xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "containers.conf")
	storage := filepath.Join(dir, "storage.conf")
	// The containers section as the distribution's containers.conf has it
	// (Debian's and containers-common's set ping_group_range).
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_sysctls = [\"net.ipv4.ping_group_range=0 0\"]\n\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A rootless podman ignores graphroot: rootless_storage_path is its
	// own. Without it podman would keep its database in ~/.local/share,
	// naming the directories of an earlier test that are gone.
	root := filepath.Join(dir, "root")
	if err := os.WriteFile(storage, []byte("[storage]\ndriver = \"vfs\"\ngraphroot = \""+root+"\"\nrootless_storage_path = \""+root+"\"\nrunroot = \""+filepath.Join(dir, "runroot")+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.env = append(os.Environ(), "CONTAINERS_CONF="+conf, "CONTAINERS_STORAGE_CONF="+storage, "XDG_RUNTIME_DIR="+p.xdg, "CONTAINERS_REGISTRIES_CONF="+regConf)
	t.Cleanup(func() {
		_ = p.cmd("rm", "-fa", "-t", "0").Run()
		_ = p.cmd("unshare", "rm", "-rf", filepath.Join(dir, "root"), filepath.Join(dir, "runroot")).Run()
		// podman's pause process, which holds its user namespace, is the
		// test's: system migrate stops it.
		_ = p.cmd("system", "migrate").Run()
		os.RemoveAll(dir)
	})
	return p
}

// cmd is podman with args.
func (p *podmanEnv) cmd(args ...string) *exec.Cmd {
	if p.runtime != "" {
		args = append([]string{"--runtime", p.runtime}, args...)
	}
	c := exec.Command("podman", args...)
	c.Env = p.env
	return c
}

func (p *podmanEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	r := runCmd(t, p.cmd(args...))
	if r.code != 0 {
		t.Fatalf("podman %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}
