package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/rless/rless/internal/diskfault"
	"github.com/rless/rless/pkg/overlay"
	"github.com/rless/rless/pkg/reexec"
	"github.com/rless/rless/pkg/store"
	"github.com/rless/rless/pkg/userns"
	"golang.org/x/sys/unix"
)

// The work that must run inside the user's namespace, where the files of
// subordinate ids belong to the ids the containers see: functions run in a
// re-executed copy of the program (see package reexec).

const overlayFuse = overlay.Fuse

// reexecOptions runs a function in mapping of host, with the environment
// containers/image expects there.
func reexecOptions(host *userns.Host, mapping userns.Mapping) reexec.Options {
	return reexec.Options{Host: host, Mapping: mapping, Env: append(os.Environ(), reexec.RootlessEnv()...)}
}

// probeOverlayFunc finds the overlay driver that works for the store in
// Root, and caches the answer there.
var probeOverlayFunc = reexec.Register("overlay.probe", func(ctx context.Context, root string) (overlay.Detection, error) {
	d, err := overlay.Probe(root)
	if err != nil {
		// It makes a few directories in the store.
		return d, diskfault.Wrap(err, "an overlay probe", root)
	}
	// The cache spares the next start a probe: a store too full for it
	// fails at the container's storage, which says so.
	if err := overlay.SaveCache(root, d); err != nil && !diskfault.Is(err) {
		return d, err
	}
	return d, nil
})

// overlayDetection returns the driver that works for the store, probing
// (once per store and kernel) inside the user namespace when no answer is
// cached.
func (e *Engine) overlayDetection(ctx context.Context, host *userns.Host) (overlay.Detection, error) {
	if d, ok := overlay.Cached(e.root); ok {
		return d, nil
	}
	if err := os.MkdirAll(e.root, 0o700); err != nil {
		return overlay.Detection{}, err
	}
	def, _ := host.Mapping()
	return probeOverlayFunc.Run(ctx, reexecOptions(host, def), e.root)
}

// mapArgs are the arguments of mapImageFunc.
type mapArgs struct {
	Root    string
	ImageID string
	// Default is the user's default layout (the namespace the function
	// runs in), Target the layout to copy the image for.
	Default, Target userns.Mapping
}

// mapImageFunc makes an image's copy for a layout (see
// store.MakeMapped), inside the user's default mapping.
var mapImageFunc = reexec.Register("store.map-image", func(ctx context.Context, a mapArgs) (string, error) {
	s, err := store.Open(a.Root)
	if err != nil {
		return "", err
	}
	img, err := s.Lookup(a.ImageID)
	if err != nil {
		return "", err
	}
	ru, rg := userns.Remap(a.Default.UIDs, a.Target.UIDs), userns.Remap(a.Default.GIDs, a.Target.GIDs)
	return s.MakeMapped(img, a.Target.Key(), func(uid, gid uint32) (uint32, uint32, bool) {
		u, ok1 := ru(uid)
		g, ok2 := rg(gid)
		return u, g, ok1 && ok2
	})
})

// mappedLower returns the image's copy for layout m (see
// store.MakeMapped), making it first, inside the user's default mapping,
// when the store lacks it.
func (e *Engine) mappedLower(ctx context.Context, s *store.Store, img store.Image, host *userns.Host, m userns.Mapping) (string, error) {
	if dir, ok := s.MappedDir(img, m.Key()); ok {
		return dir, nil
	}
	def, _ := host.Mapping()
	if _, err := mapImageFunc.Run(ctx, reexecOptions(host, def), mapArgs{Root: e.root, ImageID: img.ID, Default: def, Target: m}); err != nil {
		return "", err
	}
	dir, ok := s.MappedDir(img, m.Key())
	if !ok {
		return "", errors.New("the image's copy for keep-id was not made")
	}
	return dir, nil
}

// removeFunc removes a directory tree, inside the user's namespace.
var removeFunc = reexec.Register("remove", func(ctx context.Context, dir string) (struct{}, error) {
	return struct{}{}, os.RemoveAll(dir)
})

// removeStorage removes a container's storage dir; files of subordinate
// ids in it are removed inside the user namespace.
func (e *Engine) removeStorage(ctx context.Context, s *store.Store, id, dir string) error {
	if s.RetireContainer(id) {
		return nil
	}
	err := s.RemoveContainer(id)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	host, mapping, herr := e.Host()
	if herr != nil {
		return herr
	}
	if _, err := removeFunc.Run(ctx, reexecOptions(host, mapping), dir); err != nil {
		return fmt.Errorf("remove container storage: %w", err)
	}
	return nil
}

// chownArgs are the arguments of chownFunc.
type chownArgs struct {
	Path     string
	UID, GID int
}

// chownFunc gives a tree to a container's user, inside its namespace.
var chownFunc = reexec.Register("chown", func(ctx context.Context, a chownArgs) (struct{}, error) {
	return struct{}{}, filepath.WalkDir(a.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := unix.Lchown(p, a.UID, a.GID); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
		return ctx.Err()
	})
})

// hostHome returns the home directory of host user uid, or "".
func hostHome(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.HomeDir
	}
	return ""
}
