package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rless/rless/internal/testimage"
)

// The image cases start a container from an image of the benchmark's root
// filesystem: rless from its store (an overlay of the image's layers), and
// podman from its own, both set up once before the runs.

// imageName is the image the image cases run.
const imageName = "localhost/bench-startup:latest"

// setupImages writes the root filesystem as a one-layer OCI image under
// dir and loads it into an rless store and, when podman is installed, a
// podman store. It returns a function removing the stores.
func setupImages(c *config, dir string, withPodman bool) (func(), error) {
	layer, err := testimage.TarDir(c.rootfs)
	if err != nil {
		return nil, err
	}
	l, err := testimage.NewLayout(filepath.Join(dir, "layout"))
	if err != nil {
		return nil, err
	}
	d, err := l.Add(testimage.Image{Layers: []testimage.Layer{{Tar: layer}}, Config: v1.ImageConfig{Cmd: []string{"sh"}}})
	if err != nil {
		return nil, err
	}
	if err := l.Tag(d, "bench"); err != nil {
		return nil, err
	}
	src := "oci:" + l.Dir + ":bench"
	c.store = filepath.Join(dir, "rless-store")
	var cleanups []func()
	cleanup := func() {
		for _, f := range cleanups {
			f()
		}
	}
	// load pulls src with a tool's argv prefix and names it imageName.
	load := func(argv ...string) error {
		pull := append(append([]string{}, argv...), "pull", "-q", src)
		out, err := exec.Command(pull[0], pull[1:]...).Output()
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(pull, " "), err)
		}
		id := strings.TrimSpace(string(out))
		tag := append(append([]string{}, argv...), "tag", id, imageName)
		if out, err := exec.Command(tag[0], tag[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(tag, " "), err, out)
		}
		return nil
	}
	cleanups = append(cleanups, func() { _ = exec.Command(c.rless, "unshare", "rm", "-rf", c.store).Run() })
	if err := load(c.rless, "--root", c.store); err != nil {
		return cleanup, err
	}
	if withPodman {
		// podman wants a short run root.
		rr, err := os.MkdirTemp("/tmp", "bs-")
		if err != nil {
			return cleanup, err
		}
		c.podmanRoot, c.podmanRunRoot = filepath.Join(dir, "podman-root"), rr
		cleanups = append(cleanups, func() {
			_ = exec.Command("podman", "--root", c.podmanRoot, "--runroot", rr, "unshare", "sh", "-c",
				"umount "+c.podmanRoot+"/overlay 2>/dev/null; rm -rf "+c.podmanRoot+" "+rr).Run()
			_ = exec.Command("podman", "system", "migrate").Run()
		})
		if err := load("podman", "--root", c.podmanRoot, "--runroot", rr); err != nil {
			return cleanup, err
		}
	}
	return cleanup, nil
}

// podmanAvailable tells whether the podman cases can run: they run podman
// with runc.
var podmanAvailable = onPath("podman", "runc")

func podmanCase(name string, network ...string) benchCase {
	return benchCase{
		name: name,
		argv: func(c config) []string {
			// crun refuses these hosts' hybrid cgroups outright; rootless
			// runc goes without a cgroup it cannot create (as rless here).
			argv := []string{"podman", "--root", c.podmanRoot, "--runroot", c.podmanRunRoot, "--runtime", "runc", "--cgroup-manager", "cgroupfs", "run", "--rm"}
			return append(append(argv, network...), imageName, "true")
		},
		available: podmanAvailable,
	}
}

func init() {
	cases = append(cases,
		benchCase{
			name: "rless-image",
			argv: func(c config) []string {
				return []string{c.rless, "--root", c.store, "run", "--rm", "--pull=never", "--network", "none", imageName, "true"}
			},
			available: always,
		},
		benchCase{
			// The default network: the built-in userspace stack.
			name: "rless-image-net",
			argv: func(c config) []string {
				return []string{c.rless, "--root", c.store, "run", "--rm", "--pull=never", imageName, "true"}
			},
			available: always,
		},
		podmanCase("podman-image", "--network", "none"),
		podmanCase("podman-image-net"),
	)
	targets = append(targets,
		target{name: "rless-image", baseline: "bwrap", maxRatio: 4.0},
		target{name: "rless-image-net", baseline: "podman-image-net", maxRatio: 0.2},
	)
}
