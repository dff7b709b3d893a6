package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rless/rless/internal/testimage"
)

// The image both tools run: a one-layer OCI image of a busybox root
// filesystem, loaded into rless's store and into podman's. Copied from
// bench/startup/image.go (the benchmarks share code only by copying), with
// podman's own environment (see podmanEnv) and its overlay driver.

// imageName is the image the containers run.
const imageName = "localhost/bench-lifecycle:latest"

// loadImage writes the root filesystem c.rootfs as a one-layer OCI image
// under c.work and loads it into the rless and podman stores, as
// imageName.
func loadImage(c *config) error {
	layer, err := testimage.TarDir(c.rootfs)
	if err != nil {
		return err
	}
	l, err := testimage.NewLayout(filepath.Join(c.work, "layout"))
	if err != nil {
		return err
	}
	d, err := l.Add(testimage.Image{Layers: []testimage.Layer{{Tar: layer}}, Config: v1.ImageConfig{Cmd: []string{"sh"}}})
	if err != nil {
		return err
	}
	if err := l.Tag(d, "bench"); err != nil {
		return err
	}
	src := "oci:" + l.Dir + ":bench"
	// load pulls src with a tool and names it imageName.
	load := func(t *tool) error {
		pull := t.argv("pull", "-q", src)
		cmd := exec.Command(pull[0], pull[1:]...)
		cmd.Env = t.env
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("%s: %w%s", strings.Join(pull, " "), err, stderrOf(err))
		}
		id := strings.TrimSpace(string(out))
		tag := t.argv("tag", id, imageName)
		cmd = exec.Command(tag[0], tag[1:]...)
		cmd.Env = t.env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(tag, " "), err, out)
		}
		return nil
	}
	for _, t := range c.tools {
		if err := load(t); err != nil {
			return err
		}
	}
	return nil
}

// writePodmanConf writes podman's containers.conf and storage.conf under
// dir and returns the environment podman runs with: cgroupfs and the file
// event logger (what podman picks here anyway without a systemd user
// session, said so that it does not look for one), the overlay driver
// with the benchmark's root and run root, and an XDG_RUNTIME_DIR of the
// benchmark's own, so that podman's pause process (whose pid file is
// $XDG_RUNTIME_DIR/libpod/tmp/pause.pid), its netns directory and its
// tmpdir are the benchmark's, apart from those of anyone else running
// podman as the same user.
func writePodmanConf(c *config, dir string) error {
	containersConf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(containersConf, []byte("[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"runc\"\n"), 0o644); err != nil {
		return err
	}
	storageConf := filepath.Join(dir, "storage.conf")
	if err := os.WriteFile(storageConf, []byte(fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n", c.podmanRoot, c.podmanRunRoot)), 0o644); err != nil {
		return err
	}
	c.xdg = filepath.Join(dir, "xdg")
	if err := os.Mkdir(c.xdg, 0o700); err != nil {
		return err
	}
	c.podmanEnv = append(os.Environ(), "CONTAINERS_CONF="+containersConf, "CONTAINERS_STORAGE_CONF="+storageConf, "XDG_RUNTIME_DIR="+c.xdg)
	// runc gives each container a session keyring of its own, and the
	// kernel allows a user 200 keys and 20000 bytes of them
	// (kernel.keys.maxkeys, maxbytes): podman cannot start 100 containers
	// ("unable to create session key: disk quota exceeded"). The
	// containers that ps lists are started without (keyring = false).
	noKeyring := filepath.Join(dir, "containers-nokeyring.conf")
	if err := os.WriteFile(noKeyring, []byte("[containers]\nkeyring = false\n\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"runc\"\n"), 0o644); err != nil {
		return err
	}
	c.podmanEnvNoKeyring = append(slices.Clone(c.podmanEnv), "CONTAINERS_CONF="+noKeyring)
	return nil
}

// pausePid returns the pid of the benchmark's podman pause process (0
// when there is none).
func pausePid(c *config) int {
	b, err := os.ReadFile(filepath.Join(c.xdg, "libpod", "tmp", "pause.pid"))
	if err != nil {
		return 0
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		return 0
	}
	return pid
}
