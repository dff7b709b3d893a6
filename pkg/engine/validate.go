package engine

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/layer"
	"github.com/rless/rless/pkg/overlay"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/userns"
	"golang.org/x/sys/unix"
)

// validateConfig checks what cfg gives that needs nothing but itself, as
// podman does before it makes a container: the environment's names, the
// DNS servers and the destinations of the user's mounts. Its errors are
// rless's failures (exit status 125).
func validateConfig(cfg Config) error {
	switch {
	case cfg.Idle && (len(cfg.Command) > 0 || cfg.Entrypoint != nil):
		return errors.New("an idle container runs no command of its own: give no command or entrypoint")
	case cfg.Idle && cfg.NoInit:
		return errors.New("an idle container needs rless's init: NoInit cannot be set")
	}
	if err := spec.ValidateEnv(cfg.Env); err != nil {
		return err
	}
	for _, s := range cfg.DNS {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("%s is not an ip address", s)
		}
	}
	for _, m := range cfg.Mounts {
		if err := spec.CheckMountDestination(m.Destination); err != nil {
			return err
		}
	}
	return nil
}

// startError is a failure podman reports when it starts the container
// (its runtime's): exit status 126.
func startError(err error) error {
	return &container.Error{Code: container.ExitCannotExec, Err: err}
}

// checkMapped fails, with a line that says why, when the ids of u are
// not among those m maps: the container's user namespace cannot hold
// them.
func checkMapped(m userns.Mapping, u specs.User) error {
	if _, ok := userns.HostID(m.UIDs, u.UID); !ok {
		return startError(unmappedError("uid", u.UID, m.UIDs))
	}
	for _, g := range append([]uint32{u.GID}, u.AdditionalGids...) {
		if _, ok := userns.HostID(m.GIDs, g); !ok {
			return startError(unmappedError("gid", g, m.GIDs))
		}
	}
	return nil
}

// unmappedError says that id, a uid or gid (kind), is outside the
// mappings ms.
func unmappedError(kind string, id uint32, ms []specs.LinuxIDMapping) error {
	sorted := slices.SortedFunc(slices.Values(ms), func(a, b specs.LinuxIDMapping) int { return cmp.Compare(a.ContainerID, b.ContainerID) })
	var n uint64
	var spans [][2]uint64 // the container ids mapped, contiguous ranges merged
	for _, m := range sorted {
		if m.Size == 0 {
			continue
		}
		n += uint64(m.Size)
		first, last := uint64(m.ContainerID), uint64(m.ContainerID)+uint64(m.Size)-1
		if k := len(spans); k > 0 && spans[k-1][1]+1 == first {
			spans[k-1][1] = last
		} else {
			spans = append(spans, [2]uint64{first, last})
		}
	}
	var ranges []string
	for _, s := range spans {
		r := fmt.Sprint(s[0])
		if s[1] > s[0] {
			r = fmt.Sprintf("%d-%d", s[0], s[1])
		}
		ranges = append(ranges, r)
	}
	ids := kind + "s"
	if n == 1 {
		ids = kind
	}
	file := "/etc/sub" + kind
	hint := "a larger range in " + file + " maps more"
	if n <= 1 {
		hint = "a range in " + file + " (and new" + kind + "map) maps more"
	}
	return fmt.Errorf("%s %d is outside the %d %s mapped in the container's user namespace (%s): %s", kind, id, n, ids, strings.Join(ranges, ", "), hint)
}

// checkWorkdir checks, as podman does when it starts a container, that
// workdir, a working directory the user asked for, is a directory of the
// container's root, whose layers are given top first (the merged tree of
// an image's, or a root directory alone). A workdir at or under one of
// mounts is the mount's (not checked). It fails only when the layers
// show that workdir is missing or no directory; when they cannot tell (a
// directory this process may not search), the container's start decides.
func checkWorkdir(layers []string, mounts []specs.Mount, workdir string) error {
	if !path.IsAbs(workdir) {
		return startError(fmt.Errorf("workdir %q does not exist in the container: not an absolute path", workdir))
	}
	clean := path.Clean(workdir)
	for _, m := range mounts {
		d := path.Clean(m.Destination)
		if clean == d || strings.HasPrefix(clean, strings.TrimSuffix(d, "/")+"/") {
			return nil
		}
	}
	mode, err := statMerged(layers, clean)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return startError(fmt.Errorf("workdir %q does not exist in the container (rless creates only the image's working directory)", workdir))
	case errors.Is(err, unix.ENOTDIR), err == nil && !mode.IsDir():
		return startError(fmt.Errorf("workdir %q exists in the container, but is not a directory", workdir))
	}
	return nil
}

// maxSymlinks is how many symbolic links a path may go through, as
// Linux's.
const maxSymlinks = 40

// statMerged returns the type of p, an absolute path, in the tree that
// overlays layers (the top one first: whiteouts and opaque directories as
// pkg/layer writes them) with the container's root as its root: symbolic
// links are followed inside it. A missing path gives an error wrapping
// fs.ErrNotExist, a path through a file one wrapping unix.ENOTDIR.
func statMerged(layers []string, p string) (fs.FileMode, error) {
	rest := strings.Split(p, "/")
	var cur []string // the components resolved so far
	mode := fs.ModeDir
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			mode = fs.ModeDir
			continue
		}
		rel := path.Join(append(cur, name)...)
		found, fi, err := lstatLayers(layers, rel)
		if err != nil {
			return 0, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if links++; links > maxSymlinks {
				return 0, fmt.Errorf("%s: %w", p, unix.ELOOP)
			}
			target, err := os.Readlink(found)
			if err != nil {
				return 0, err
			}
			if strings.HasPrefix(target, "/") {
				cur = nil
			}
			rest = append(strings.Split(target, "/"), rest...)
			mode = fs.ModeDir
			continue
		}
		if !fi.IsDir() && len(rest) > 0 && strings.Trim(strings.Join(rest, ""), "/") != "" {
			return 0, fmt.Errorf("%s: %w", p, unix.ENOTDIR)
		}
		cur = append(cur, name)
		mode = fi.Mode().Type()
	}
	return mode, nil
}

// lstatLayers finds rel (a path relative to the root, with no symbolic
// link before its last component) in the top-most of layers that has it,
// unless a layer above hides it (a whiteout, an opaque directory, a
// file where the others have a directory), and returns its path there.
func lstatLayers(layers []string, rel string) (string, fs.FileInfo, error) {
	for _, l := range layers {
		full := filepath.Join(l, rel)
		fi, err := os.Lstat(full)
		if err == nil {
			if isWhiteout(fi) {
				break
			}
			return full, fi, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			if errors.Is(err, unix.ENOTDIR) {
				break // a file of this layer hides the lower ones'
			}
			return "", nil, err
		}
		if hides(l, rel) {
			break
		}
	}
	return "", nil, fmt.Errorf("/%s: %w", rel, fs.ErrNotExist)
}

// hides reports whether layer l, which lacks rel, hides the lower
// layers' rel: a parent of it there is a whiteout or an opaque
// directory.
func hides(l, rel string) bool {
	for dir := path.Dir(rel); dir != "." && dir != "/"; dir = path.Dir(dir) {
		full := filepath.Join(l, dir)
		fi, err := os.Lstat(full)
		if err != nil {
			continue
		}
		if isWhiteout(fi) {
			return true
		}
		buf := make([]byte, 8)
		if n, err := unix.Lgetxattr(full, layer.OpaqueXattr, buf); err == nil && bytes.Equal(buf[:n], []byte("y")) {
			return true
		}
	}
	return false
}

// isWhiteout reports whether fi is a whiteout: a character device 0/0.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// rootLayers returns the layers of a container's root, the top one first,
// for statMerged: an image's (layout), or the root directory (rootfs, as
// given; root, as the spec has it).
func rootLayers(layout *overlay.Layout, rootfs, root string) []string {
	switch {
	case layout != nil:
		return append([]string{layout.Upper}, layout.Lower...)
	case filepath.Clean(rootfs) == "/":
		return []string{"/"}
	}
	return []string{root}
}

// workdirChecked returns prepare (which may be nil) with checkWorkdir
// first: the working directory is checked when the container starts.
func workdirChecked(prepare func() error, layers []string, mounts []specs.Mount, workdir string) func() error {
	return func() error {
		if err := checkWorkdir(layers, mounts, workdir); err != nil {
			return err
		}
		if prepare != nil {
			return prepare()
		}
		return nil
	}
}
