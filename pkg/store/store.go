package store

import (
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

// Store is an image store rooted at a directory. Its methods may be called
// from several goroutines and processes at once.
type Store struct {
	root string
}

// Image is one image of the index.
type Image struct {
	ID      string    `json:"id"`               // hex sha256 of the config
	Names   []string  `json:"names,omitempty"`  // normalised references
	Digest  string    `json:"digest,omitempty"` // manifest digest, algorithm:hex
	Layers  []string  `json:"layers"`           // DiffIDs, base first
	Created time.Time `json:"created"`          // from the config
	Added   time.Time `json:"added"`            // when it entered the store
	Size    int64     `json:"size"`             // unpacked bytes of its layers
}

// ShortID is the 12-character form of the ID.
func (i Image) ShortID() string { return i.ID[:min(12, len(i.ID))] }

// Layer is what the store records of an unpacked layer.
type Layer struct {
	DiffID    string    `json:"diffID"`              // sha256 of the uncompressed tar
	Digest    string    `json:"digest,omitempty"`    // blob digest as fetched
	MediaType string    `json:"mediaType,omitempty"` // blob media type as fetched
	Size      int64     `json:"size"`                // unpacked bytes
	Added     time.Time `json:"added"`
}

type index struct {
	Version int     `json:"version"`
	Images  []Image `json:"images"`
}

// ErrNotFound is wrapped by lookups of unknown images.
var ErrNotFound = errors.New("image not known")

// ErrAmbiguous is wrapped when an ID prefix names several images.
var ErrAmbiguous = errors.New("ambiguous image ID prefix")

// Open opens (creating when needed) the store at root.
func Open(root string) (*Store, error) {
	for _, d := range []string{root, filepath.Join(root, "images"), filepath.Join(root, "layers"), filepath.Join(root, "trash")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	return &Store{root: root}, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// ImageDir returns the directory of image id's manifest and config.
func (s *Store) ImageDir(id string) string { return filepath.Join(s.root, "images", id) }

// LayerDir returns the directory of the layer with DiffID diffID; its
// unpacked tree is LayerDir/diff.
func (s *Store) LayerDir(diffID string) string {
	return filepath.Join(s.root, "layers", hexOf(diffID))
}

// TarSplitFile is the name of a layer's tar-split metadata (gzip'd JSON)
// in its directory.
const TarSplitFile = "tar-split.json.gz"

// DiffDir returns the unpacked tree of a layer.
func (s *Store) DiffDir(diffID string) string { return filepath.Join(s.LayerDir(diffID), "diff") }

func hexOf(d string) string {
	if _, h, ok := strings.Cut(d, ":"); ok {
		return h
	}
	return d
}

// Images returns the images of the index, newest first.
func (s *Store) Images() ([]Image, error) {
	ix, err := s.read()
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(ix.Images, func(a, b Image) int { return b.Added.Compare(a.Added) })
	return ix.Images, nil
}

func (s *Store) read() (*index, error) {
	data, err := os.ReadFile(filepath.Join(s.root, "images.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return &index{Version: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read store index: %w", err)
	}
	var ix index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("read store index %s: %w", filepath.Join(s.root, "images.json"), err)
	}
	return &ix, nil
}

// update changes the index under the store lock and writes it atomically.
func (s *Store) update(fn func(*index) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	ix, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(ix); err != nil {
		return err
	}
	return s.write(ix)
}

// write replaces the index with ix atomically; the caller holds the store
// lock.
func (s *Store) write(ix *index) error {
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.root, "images.json"), append(data, '\n'), 0o600)
}

// lock takes the store lock: an exclusive flock on store.lock.
func (s *Store) lock() (func(), error) {
	return flock(filepath.Join(s.root, "store.lock"))
}

func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// Lookup finds an image by full ID, unique ID prefix, name, or short name
// ("alpine" finds docker.io/library/alpine:latest, and also
// quay.io/x/alpine:latest when that is the only image of that name).
func (s *Store) Lookup(ref string) (Image, error) {
	ix, err := s.read()
	if err != nil {
		return Image{}, err
	}
	img, _, err := lookup(ix, ref)
	return img, err
}

// LookupName is Lookup that also returns the name of the image that ref
// matched ("" when ref was an ID or a digest).
func (s *Store) LookupName(ref string) (Image, string, error) {
	ix, err := s.read()
	if err != nil {
		return Image{}, "", err
	}
	return lookup(ix, ref)
}

// lookup finds ref in ix and returns the image and, when ref was a name,
// the name of the image it matched.
func lookup(ix *index, ref string) (Image, string, error) {
	ref = strings.TrimPrefix(ref, "sha256:")
	for _, img := range ix.Images {
		if img.ID == ref {
			return img, "", nil
		}
	}
	if n, err := reference.Parse(ref); err == nil {
		full := n.String()
		for _, img := range ix.Images {
			if slices.Contains(img.Names, full) {
				return img, full, nil
			}
			if n.Digest != "" && img.Digest == n.Digest && slices.ContainsFunc(img.Names, func(s string) bool { return repoOf(s) == n.Name() }) {
				return img, "", nil
			}
		}
		if reference.IsShort(ref) {
			// Any registry's image of that path and tag, when just one.
			typed := "/" + repoOf(ref)
			var found []Image
			var names []string
			for _, img := range ix.Images {
				for _, name := range img.Names {
					ok := strings.HasSuffix(repoOf(name), typed)
					if n.Digest != "" {
						ok = ok && img.Digest == n.Digest
					} else {
						ok = ok && strings.HasSuffix(name, ":"+n.Tag)
					}
					if ok {
						found = append(found, img)
						names = append(names, name)
						break
					}
				}
			}
			if len(found) == 1 {
				if n.Digest != "" {
					return found[0], "", nil
				}
				return found[0], names[0], nil
			}
		}
	}
	if len(ref) >= 3 && strings.Trim(ref, "0123456789abcdef") == "" {
		var found []Image
		for _, img := range ix.Images {
			if strings.HasPrefix(img.ID, ref) {
				found = append(found, img)
			}
		}
		switch len(found) {
		case 1:
			return found[0], "", nil
		case 0:
		default:
			return Image{}, "", fmt.Errorf("%w: %s", ErrAmbiguous, ref)
		}
	}
	return Image{}, "", fmt.Errorf("%s: %w", ref, ErrNotFound)
}

// repoOf strips the tag and digest of a normalised name.
func repoOf(name string) string {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	return name
}

// HasLayer reports whether the layer with DiffID diffID is unpacked.
func (s *Store) HasLayer(diffID string) bool {
	_, err := os.Stat(filepath.Join(s.LayerDir(diffID), "layer.json"))
	return err == nil
}

// ReadLayer returns what the store records of a layer.
func (s *Store) ReadLayer(diffID string) (Layer, error) {
	var l Layer
	data, err := os.ReadFile(filepath.Join(s.LayerDir(diffID), "layer.json"))
	if err != nil {
		return l, fmt.Errorf("layer %s: %w", diffID, err)
	}
	err = json.Unmarshal(data, &l)
	return l, err
}

// ReadConfig returns the configuration of image id, as pulled.
func (s *Store) ReadConfig(id string) ([]byte, error) {
	config, err := os.ReadFile(filepath.Join(s.ImageDir(id), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	return config, nil
}

// ReadImage returns the manifest and config of image id, as pulled.
func (s *Store) ReadImage(id string) (manifest, config []byte, err error) {
	dir := s.ImageDir(id)
	if manifest, err = os.ReadFile(filepath.Join(dir, "manifest.json")); err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", id, err)
	}
	if config, err = s.ReadConfig(id); err != nil {
		return nil, nil, err
	}
	return manifest, config, nil
}
