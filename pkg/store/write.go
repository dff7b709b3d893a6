package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rless/rless/internal/atomicfile"
	"github.com/rless/rless/pkg/reference"
	"golang.org/x/sys/unix"
)

// LayerWriter is a layer being unpacked: the caller writes the tree into
// Dir and then commits it or aborts. It holds the layer's lock, so a
// concurrent writer of the same layer waits and then finds it present.
type LayerWriter struct {
	s      *Store
	diffID string
	tmp    string
	unlock func()
}

// ErrLayerExists is returned by NewLayer when the layer is already present.
var ErrLayerExists = errors.New("layer already present")

// NewLayer starts writing the layer diffID. It waits for a concurrent
// writer of the same layer and returns ErrLayerExists when the layer is
// (then) present. A temporary directory left by a killed writer is removed.
func (s *Store) NewLayer(diffID string) (*LayerWriter, error) {
	unlock, err := flock(s.LayerDir(diffID) + ".lock")
	if err != nil {
		return nil, err
	}
	if s.HasLayer(diffID) {
		unlock()
		return nil, ErrLayerExists
	}
	tmp := filepath.Join(s.root, "layers", ".tmp-"+hexOf(diffID))
	if err := s.discard(tmp); err != nil {
		unlock()
		return nil, err
	}
	// A layer directory without layer.json is a commit cut short.
	if err := s.discard(s.LayerDir(diffID)); err != nil {
		unlock()
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "diff"), 0o755); err != nil {
		unlock()
		return nil, fmt.Errorf("create layer directory: %w", err)
	}
	return &LayerWriter{s: s, diffID: diffID, tmp: tmp, unlock: unlock}, nil
}

// Dir is the directory to unpack the layer into.
func (w *LayerWriter) Dir() string { return filepath.Join(w.tmp, "diff") }

// TarSplitPath is where the layer's tar-split metadata goes: what it takes
// to give back the layer's tar stream, byte for byte, from the unpacked
// files.
func (w *LayerWriter) TarSplitPath() string { return filepath.Join(w.tmp, TarSplitFile) }

// Commit records l and moves the layer into place.
func (w *LayerWriter) Commit(l Layer) error {
	defer w.unlock()
	l.DiffID = w.diffID
	if l.Added.IsZero() {
		l.Added = time.Now().UTC()
	}
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := syncFS(w.Dir()); err != nil {
		w.s.discard(w.tmp)
		return fmt.Errorf("sync layer %s: %w", w.diffID, err)
	}
	if err := atomicfile.Write(filepath.Join(w.tmp, "layer.json"), data, 0o600); err != nil {
		w.s.discard(w.tmp)
		return err
	}
	if err := os.Rename(w.tmp, w.s.LayerDir(w.diffID)); err != nil {
		w.s.discard(w.tmp)
		return fmt.Errorf("commit layer %s: %w", w.diffID, err)
	}
	return syncFS(filepath.Dir(w.tmp))
}

// Abort throws the partly written layer away.
func (w *LayerWriter) Abort() {
	defer w.unlock()
	w.s.discard(w.tmp)
}

// discard moves path (if present) to the trash and removes it. The move is
// one rename to a name of its own, so that a trash entry is whole from the
// moment it exists: EmptyTrash may remove it at any time.
func (s *Store) discard(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	trash := filepath.Join(s.root, "trash", "x"+hex.EncodeToString(b[:]))
	if err := os.Rename(path, trash); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		if _, serr := os.Lstat(trash); serr == nil {
			return fmt.Errorf("remove %s: %w (`rless unshare rm -rf %s` removes it)", path, err, trash)
		}
	}
	return nil
}

// syncFS flushes the file system holding dir to disk (one syncfs rather
// than an fsync per file of a layer).
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// AddImage records an image whose layers are all present: its manifest and
// config are written, then the index gains it (or, when present, its
// names). Names move from any image that had them.
func (s *Store) AddImage(img Image, manifest, config []byte) error {
	for _, l := range img.Layers {
		if !s.HasLayer(l) {
			return fmt.Errorf("add image %s: layer %s missing", img.ShortID(), l)
		}
	}
	if img.Added.IsZero() {
		img.Added = time.Now().UTC()
	}
	return s.update(func(ix *index) error {
		if err := s.writeImageFiles(img.ID, manifest, config); err != nil {
			return err
		}
		for i := range ix.Images {
			ix.Images[i].Names = slices.DeleteFunc(ix.Images[i].Names, func(n string) bool { return slices.Contains(img.Names, n) })
		}
		for i := range ix.Images {
			if ix.Images[i].ID == img.ID {
				old := ix.Images[i]
				img.Names = append(old.Names, img.Names...)
				img.Added = old.Added
				if img.Digest == "" {
					img.Digest = old.Digest
				}
				ix.Images[i] = img
				return nil
			}
		}
		ix.Images = append(ix.Images, img)
		return nil
	})
}

// writeImageFiles writes an image's manifest and config, under the store
// lock, unless present.
func (s *Store) writeImageFiles(id string, manifest, config []byte) error {
	dir := s.ImageDir(id)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return nil
	}
	if err := s.discard(dir); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "images"), ".tmp-")
	if err != nil {
		return fmt.Errorf("add image: %w", err)
	}
	err = errors.Join(
		os.WriteFile(filepath.Join(tmp, "manifest.json"), manifest, 0o600),
		os.WriteFile(filepath.Join(tmp, "config.json"), config, 0o600),
		syncFS(tmp))
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("add image %s: %w", id, err)
	}
	return nil
}

// Tag adds the name ref to the image that image names. A short name is
// put under localhost/ ("myimage:v1" is localhost/myimage:v1), as podman
// does; other names are normalised.
func (s *Store) Tag(image, ref string) error {
	if reference.IsShort(ref) {
		ref = "localhost/" + ref
	}
	n, err := reference.Parse(ref)
	if err != nil {
		return err
	}
	if n.Digest != "" {
		return fmt.Errorf("tag %s: a tag cannot name a digest", ref)
	}
	return s.update(func(ix *index) error {
		img, _, err := lookup(ix, image)
		if err != nil {
			return err
		}
		name := n.String()
		for i := range ix.Images {
			ix.Images[i].Names = slices.DeleteFunc(ix.Images[i].Names, func(x string) bool { return x == name })
			if ix.Images[i].ID == img.ID {
				ix.Images[i].Names = append(ix.Images[i].Names, name)
			}
		}
		return nil
	})
}

// InUse, when set, reports whether a container uses image id; such images
// are not removed (unless forced: then the containers must be gone first,
// which is the caller's business).
type InUse func(id string) bool

// ErrInUse is wrapped by Remove's refusal to remove an image a container
// uses.
var ErrInUse = errors.New("image is in use by a container")

// RemoveResult says what Remove did.
type RemoveResult struct {
	Untagged []string // names removed
	Deleted  []string // image IDs removed
}

// Remove removes the images refs name. A name of an image with other names
// is only untagged; an ID (or the last name) removes the image and the
// layers no other image has. force removes an image named by ID even with
// several names. Images that inUse reports are refused.
func (s *Store) Remove(refs []string, force bool, inUse InUse) (RemoveResult, error) {
	var res RemoveResult
	var deleted []Image
	err := s.update(func(ix *index) error {
		for _, ref := range refs {
			img, byName, err := lookup(ix, ref)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(ix.Images, func(x Image) bool { return x.ID == img.ID })
			if byName != "" && len(img.Names) > 1 {
				ix.Images[i].Names = slices.DeleteFunc(ix.Images[i].Names, func(x string) bool { return x == byName })
				res.Untagged = append(res.Untagged, byName)
				continue
			}
			if byName == "" && len(img.Names) > 1 && !force {
				return fmt.Errorf("image %s has several names (%s): remove them one by one or use --force", img.ShortID(), strings.Join(img.Names, ", "))
			}
			if inUse != nil && inUse(img.ID) {
				return fmt.Errorf("image %s: %w", img.ShortID(), ErrInUse)
			}
			res.Untagged = append(res.Untagged, img.Names...)
			res.Deleted = append(res.Deleted, img.ID)
			deleted = append(deleted, img)
			ix.Images = slices.Delete(ix.Images, i, i+1)
		}
		return nil
	})
	if err != nil {
		return RemoveResult{}, err
	}
	return res, s.collect(deleted)
}

// collect removes the files of deleted images and the layers no image in
// the index still has.
func (s *Store) collect(deleted []Image) error {
	var errs []error
	var layers []string
	for _, img := range deleted {
		errs = append(errs, s.discard(s.ImageDir(img.ID)))
		layers = append(layers, img.Layers...)
	}
	errs = append(errs, s.RemoveUnusedLayers(layers))
	return errors.Join(errs...)
}

// RemoveUnusedLayers removes those of the layers diffIDs that no image
// of the index has: a failed pull rolls back the layers it added.
func (s *Store) RemoveUnusedLayers(diffIDs []string) error {
	ix, err := s.read()
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, img := range ix.Images {
		for _, l := range img.Layers {
			used[hexOf(l)] = true
		}
	}
	var errs []error
	for _, l := range diffIDs {
		if used[hexOf(l)] {
			continue
		}
		unlock, err := flock(s.LayerDir(l) + ".lock")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, s.discard(s.LayerDir(l)))
		os.Remove(s.LayerDir(l) + ".lock")
		unlock()
	}
	return errors.Join(errs...)
}

// Prune removes images without names (all unused images when all is set)
// and returns their IDs.
func (s *Store) Prune(all bool, inUse InUse) ([]string, error) {
	var deleted []Image
	err := s.update(func(ix *index) error {
		ix.Images = slices.DeleteFunc(ix.Images, func(img Image) bool {
			if (len(img.Names) > 0 && !all) || (inUse != nil && inUse(img.ID)) {
				return false
			}
			deleted = append(deleted, img)
			return true
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, img := range deleted {
		ids = append(ids, img.ID)
	}
	return ids, s.collect(deleted)
}

// Clean removes what killed writers left behind: the trash and temporary
// image directories. (Temporary layer directories are removed by the next
// writer of that layer, under its lock.)
func (s *Store) Clean() error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	images, _ := os.ReadDir(filepath.Join(s.root, "images"))
	for _, e := range images {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			errs = append(errs, os.RemoveAll(filepath.Join(s.root, "images", e.Name())))
		}
	}
	// A trash entry that cannot be removed is not worth an error.
	s.EmptyTrash()
	return errors.Join(errs...)
}

// Usage is what the store holds, for `system df`.
type Usage struct {
	Images, ActiveImages int
	Size                 int64 // unpacked bytes of every image (shared layers counted once)
	Reclaimable          int64 // bytes only images without names hold
	Layers, UnusedLayers int
	LayerSize            int64
	UnusedLayerSize      int64 // layers no image has (left by killed pulls)
}

// Usage sums up the store.
func (s *Store) Usage() (Usage, error) {
	var u Usage
	imgs, err := s.Images()
	if err != nil {
		return u, err
	}
	u.Images = len(imgs)
	owners := map[string]int{}
	named := map[string]bool{}
	for _, img := range imgs {
		if len(img.Names) > 0 {
			u.ActiveImages++
		}
		for _, l := range img.Layers {
			owners[hexOf(l)]++
			if len(img.Names) > 0 {
				named[hexOf(l)] = true
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(s.root, "layers"))
	if err != nil {
		return u, err
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		l, err := s.ReadLayer(e.Name())
		if err != nil {
			continue
		}
		u.Layers++
		u.LayerSize += l.Size
		switch {
		case owners[e.Name()] == 0:
			u.UnusedLayers++
			u.UnusedLayerSize += l.Size
		case !named[e.Name()]:
			u.Reclaimable += l.Size
			u.Size += l.Size
		default:
			u.Size += l.Size
		}
	}
	return u, nil
}
