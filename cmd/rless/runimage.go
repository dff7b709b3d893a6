package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/overlay"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/store"
	"github.com/rless/rless/pkg/userns"
	"github.com/spf13/cobra"
)

// imageFlags are run's flags for containers made from images.
type imageFlags struct {
	pull       string
	entrypoint string
	volumes    []string
	tmpfs      []string
	mounts     []string
}

func (f *imageFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.pull, "pull", "missing", "pull the image: missing (when not in the store), always, newer (as always: present layers are not fetched again) or never")
	fl.StringVar(&f.entrypoint, "entrypoint", "", "override the image's entrypoint (\"\" clears it); the image's command goes with it")
	fl.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind mount HOST-PATH:CONTAINER-PATH[:ro|rw|U|z|Z] (the host path must exist; U gives it to the container's user), or mount the named volume VOLUME:CONTAINER-PATH[:OPTIONS] (created when missing)")
	fl.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a tmpfs at CONTAINER-PATH[:OPTIONS]")
	fl.StringArrayVar(&f.mounts, "mount", nil, "mount type=bind|volume,source=HOST-PATH|VOLUME,destination=PATH[,ro] or type=tmpfs,destination=PATH[,tmpfs-size=N]")
}

// userMounts returns the mounts of -v, --tmpfs and --mount.
func (f *imageFlags) userMounts() ([]specs.Mount, error) {
	var out []specs.Mount
	for _, set := range []struct {
		vals  []string
		parse func(string) (specs.Mount, error)
	}{{f.volumes, spec.ParseVolume}, {f.tmpfs, spec.ParseTmpfs}, {f.mounts, spec.ParseMount}} {
		for _, v := range set.vals {
			m, err := set.parse(v)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// findImage returns the image ref names, pulling it as --pull says.
func findImage(cmd *cobra.Command, g *globals, s *store.Store, ref, policy string) (store.Image, error) {
	img, err := s.Lookup(ref)
	switch policy {
	case "missing":
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return img, err
		}
	case "never":
		return img, err
	case "always", "newer":
	default:
		return img, fmt.Errorf("--pull %q: want missing, always, newer or never", policy)
	}
	// The pull runs as its own rless command: it executes the image
	// engine, which this process does not load.
	args := []string{"--root", g.root, "--runroot", g.runRoot, "--log-level", g.logLevel, "pull", ref}
	pull := exec.CommandContext(cmd.Context(), "/proc/self/exe", args...)
	var out bytes.Buffer
	pull.Stdin, pull.Stdout, pull.Stderr = nil, &out, os.Stderr
	if err := pull.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return img, exitError{ee.ExitCode()} // pull said why
		}
		return img, fmt.Errorf("pull %s: %w", ref, err)
	}
	return s.Lookup(strings.TrimSpace(out.String()))
}

// imageOptions fills in opts (the flags' options) from image img, whose
// configuration is ic: the root is an overlay of its layers under a
// writable layer in the store, and the command, environment, working
// directory and user come from its config where the flags leave them. It
// returns the container's storage, to be removed when the container is gone,
// the function that makes it, and the container's mounts.
//
// With keep (--userns=keep-id) the layers are the image's copy for that
// layout, and the command runs as the user's ids unless --user says
// otherwise.
func imageOptions(cmd *cobra.Command, g *globals, s *store.Store, img store.Image, ic *store.ImageConfig, id string, f *runFlags, keep *keepID, host *userns.Host, etcOpts container.EtcOptions, args []string, opts *spec.Options) (ctr *store.Container, prepare func() error, mounts []specs.Mount, err error) {
	user2, err := f.image.userMounts()
	if err != nil {
		return nil, nil, nil, err
	}
	entrypoint := ic.Entrypoint
	command := ic.Cmd
	if cmd.Flags().Changed("entrypoint") {
		entrypoint, command = nil, nil
		if f.image.entrypoint != "" {
			entrypoint = []string{f.image.entrypoint}
		}
	}
	if len(args) > 0 {
		command = args
	}
	opts.Args = append(append([]string{}, entrypoint...), command...)
	if len(opts.Args) == 0 {
		return nil, nil, nil, fmt.Errorf("image %s has no command: give one", img.ShortID())
	}
	opts.Env = append(append([]string{}, ic.Env...), opts.Env...)
	if opts.Cwd == "" {
		opts.Cwd = ic.WorkingDir
	}
	if opts.StopSignal == "" {
		opts.StopSignal = ic.StopSignal
	}
	user := f.user
	if user == "" {
		user = ic.User
	}
	passwd, err := s.ReadImageFile(img, "/etc/passwd")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, err
	}
	group, err := s.ReadImageFile(img, "/etc/group")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, err
	}
	if opts.User, opts.Home, err = spec.ResolveUserFrom(passwd, group, user); err != nil {
		return nil, nil, nil, err
	}
	var lower string
	var withUser []byte // the image's /etc/passwd with keep-id's user added
	if keep != nil {
		if lower, err = mappedLower(cmd, g, s, img, host, opts.Mapping); err != nil {
			return nil, nil, nil, err
		}
		if f.user == "" {
			opts.User, opts.Home, withUser = keep.user(host, passwd)
		}
	}
	slog.Debug("image config read")
	c := s.NewContainer(id, img)
	if lower != "" {
		c.Layout.Lower = []string{lower}
	}
	if c.Layout.Driver, c.Layout.Program, err = storageDriver(g); err != nil {
		return nil, nil, nil, err
	}
	if c.Layout.Driver == "" {
		d, err := overlayDetection(cmd, g, host)
		if err != nil {
			return nil, nil, nil, err
		}
		d.Apply(&c.Layout)
	}
	// The writable layer goes with the container (there are no detached
	// containers yet): no need to sync it, ever.
	c.Layout.Volatile = true
	opts.Rootfs = c.Rootfs
	mounts = container.EtcMounts(c.Dir)
	if withUser != nil {
		mounts = append(mounts, specs.Mount{Destination: "/etc/passwd", Type: "bind", Source: filepath.Join(c.Dir, "passwd"), Options: []string{"bind", "rprivate"}})
	}
	// The storage and its files are made while the container's first
	// process is mapped (container.Config.Prepare).
	prepare = func() error {
		s.RemoveStaleContainers()
		// What earlier containers left in the trash goes meanwhile.
		go s.EmptyTrash()
		if err := s.MakeContainer(c); err != nil {
			return err
		}
		if _, err := container.EtcFiles(c.Dir, etcOpts); err != nil {
			return err
		}
		if withUser != nil {
			if err := os.WriteFile(filepath.Join(c.Dir, "passwd"), withUser, 0o644); err != nil {
				return fmt.Errorf("write /etc/passwd: %w", err)
			}
		}
		slog.Debug("container storage created")
		return nil
	}
	if f.readOnly {
		// Writable scratch space, as podman's --read-only-tmpfs.
		for _, d := range []string{"/tmp", "/var/tmp", "/run"} {
			m, _ := spec.ParseTmpfs(d + ":mode=1777")
			mounts = append(mounts, m)
		}
	}
	return c, prepare, append(mounts, user2...), nil
}

// storageDriver returns the overlay driver and mount program that
// --storage-driver and --storage-opt ask for.
func storageDriver(g *globals) (driver, program string, err error) {
	switch g.storageDriver {
	case "overlay", "":
	case "vfs":
		driver = overlay.Copy
	default:
		return "", "", fmt.Errorf("--storage-driver %q: want overlay or vfs", g.storageDriver)
	}
	for _, o := range g.storageOpts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "overlay.mount_program", "mount_program":
			if v == "" {
				return "", "", errors.New("--storage-opt overlay.mount_program: no program given")
			}
			if driver == "" {
				// Found here: the container's stage has no PATH of ours.
				if program, err = exec.LookPath(v); err != nil {
					return "", "", fmt.Errorf("--storage-opt overlay.mount_program: %w", err)
				}
				driver = overlay.Fuse
			}
		default:
			return "", "", fmt.Errorf("--storage-opt %q: unknown option", o)
		}
	}
	return driver, program, nil
}

// removeContainer removes a container's storage; files of subordinate ids
// in it are removed inside the user namespace.
func removeContainer(cmd *cobra.Command, s *store.Store, c *store.Container, host *userns.Host, mapping userns.Mapping) error {
	if s.RetireContainer(c.ID) {
		return nil
	}
	err := s.RemoveContainer(c.ID)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	code, uerr := userns.Unshare(cmd.Context(), host, mapping, []string{"rm", "-rf", c.Dir}, os.Environ())
	if uerr == nil && code != 0 {
		uerr = fmt.Errorf("rm -rf %s: exit %d", c.Dir, code)
	}
	return uerr
}
