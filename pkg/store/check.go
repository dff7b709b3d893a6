package store

import (
	"crypto/sha256"
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

	"github.com/rless/rless/internal/proc"
	"golang.org/x/sys/unix"
)

// Kinds of Problem, in the order Check reports them.
const (
	// ProblemIndex: the index (images.json) cannot be read.
	ProblemIndex = "index"
	// ProblemImage: an image's files disagree with the index or are gone.
	ProblemImage = "image"
	// ProblemLayer: a layer's record or files are damaged.
	ProblemLayer = "layer"
	// ProblemUnusedLayer: a layer no image has, older than
	// CheckOptions.MaxUnused (what a pull cut short leaves).
	ProblemUnusedLayer = "unused-layer"
	// ProblemContainer: container storage no process and no container
	// record owns.
	ProblemContainer = "container"
	// ProblemLeftover: a temporary or trash entry a killed writer left.
	ProblemLeftover = "leftover"
)

// Problem is one thing Check found wrong with the store.
type Problem struct {
	Kind  string `json:"kind"`
	Image string `json:"image,omitempty"` // image ID
	Layer string `json:"layer,omitempty"` // DiffID
	// Path is the entry of the store concerned, relative to its root
	// (for a layer's file: the file's name in the layer).
	Path   string `json:"path,omitempty"`
	Detail string `json:"detail"`
}

// CheckOptions say what Check looks at.
type CheckOptions struct {
	// MaxUnused is the age beyond which a layer no image has is reported
	// (younger ones may belong to a pull under way); 0 reports every one.
	MaxUnused time.Duration
	// Known reports whether a container id has a record of its engine
	// (a detached or created container): its storage is then owned even
	// when no process holds it. nil knows none.
	Known func(id string) bool
	// VerifyLayer, when set, checks the files of a present layer against
	// what was recorded when it was unpacked, and returns the problems
	// found (see image.VerifyLayer). Without it only the layer's record
	// is checked.
	VerifyLayer func(diffID string) []Problem
}

// CheckReport is what Check found.
type CheckReport struct {
	Problems []Problem `json:"problems,omitempty"`
	// Images are the images of the index (for naming them in reports).
	Images []Image      `json:"images,omitempty"`
	opts   CheckOptions // how it was made, for a check after a rebuild
}

// DamagedImages returns the IDs of the images that have a problem (their
// own, or a damaged layer's).
func (r *CheckReport) DamagedImages() []string {
	var ids []string
	for _, p := range r.Problems {
		if p.Kind == ProblemImage && !slices.Contains(ids, p.Image) {
			ids = append(ids, p.Image)
		}
	}
	return ids
}

// Check looks the store over: the index; each image's files, against the
// index and its configuration's digest; each layer's record, and its files
// with opts.VerifyLayer; layers no image has; container storage nobody
// owns; and what killed writers left. It changes nothing (see Repair). An
// error is returned only when the store cannot be looked at.
func (s *Store) Check(opts CheckOptions) (*CheckReport, error) {
	r := &CheckReport{opts: opts}
	add := func(p Problem) { r.Problems = append(r.Problems, p) }
	// The index and the image directories are read under the store lock,
	// so that an image being added is seen in both or in neither.
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	ix, err := s.read()
	imageDirs, _ := os.ReadDir(filepath.Join(s.root, "images"))
	unlock()
	if err != nil {
		add(Problem{Kind: ProblemIndex, Path: "images.json", Detail: err.Error()})
		ix = &index{}
	}
	indexed := map[string]bool{}
	for _, img := range ix.Images {
		indexed[img.ID] = true
	}
	for _, e := range imageDirs {
		switch {
		case strings.HasPrefix(e.Name(), ".tmp-"):
			add(Problem{Kind: ProblemLeftover, Path: "images/" + e.Name(), Detail: "left by a writer that was killed"})
		case !indexed[e.Name()] && !slices.ContainsFunc(r.Problems, isIndexProblem):
			add(Problem{Kind: ProblemLeftover, Path: "images/" + e.Name(), Detail: "the files of an image the index does not have"})
		}
	}
	r.Images = ix.Images
	used := map[string]bool{}
	for _, img := range ix.Images {
		for _, p := range s.checkImage(img) {
			add(p)
		}
		for _, l := range img.Layers {
			used[hexOf(l)] = true
		}
	}
	layers, err := os.ReadDir(filepath.Join(s.root, "layers"))
	if err != nil {
		return nil, fmt.Errorf("check store: %w", err)
	}
	for _, e := range layers {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".lock"):
			continue
		case strings.HasPrefix(name, ".tmp-"):
			if s.idle(filepath.Join(s.root, "layers", strings.TrimPrefix(name, ".tmp-")+".lock")) {
				add(Problem{Kind: ProblemLeftover, Path: "layers/" + name, Detail: "a layer whose unpacking was cut short"})
			}
			continue
		}
		diffID := "sha256:" + name
		ps := s.checkLayer(diffID, opts)
		for _, p := range ps {
			add(p)
		}
		if len(ps) > 0 || used[name] {
			continue
		}
		if l, err := s.ReadLayer(diffID); err == nil && time.Since(l.Added) >= opts.MaxUnused {
			add(Problem{Kind: ProblemUnusedLayer, Layer: diffID, Path: "layers/" + name,
				Detail: fmt.Sprintf("no image has it (added %s)", l.Added.Local().Format(time.DateTime))})
		}
	}
	// An image with a damaged layer is damaged.
	damaged := map[string]bool{}
	for _, p := range r.Problems {
		if p.Kind == ProblemLayer {
			damaged[hexOf(p.Layer)] = true
		}
	}
	for _, img := range ix.Images {
		for _, l := range img.Layers {
			if damaged[hexOf(l)] {
				add(Problem{Kind: ProblemImage, Image: img.ID, Layer: l, Detail: "its layer " + l + " is damaged"})
			}
		}
	}
	for _, p := range s.checkContainers(opts.Known) {
		add(p)
	}
	trash, _ := os.ReadDir(filepath.Join(s.root, "trash"))
	for _, e := range trash {
		if strings.HasPrefix(e.Name(), retiredPrefix) {
			continue // a retired container's skeleton, removed in the background
		}
		add(Problem{Kind: ProblemLeftover, Path: "trash/" + e.Name(), Detail: "left by a remover that was killed"})
	}
	return r, nil
}

// checkImage checks an image's files against the index.
func (s *Store) checkImage(img Image) []Problem {
	bad := func(format string, args ...any) []Problem {
		return []Problem{{Kind: ProblemImage, Image: img.ID, Path: "images/" + img.ID, Detail: fmt.Sprintf(format, args...)}}
	}
	manifest, config, err := s.ReadImage(img.ID)
	if err != nil {
		return bad("%v", unwrapPath(err))
	}
	if sum := sha256.Sum256(config); hex.EncodeToString(sum[:]) != img.ID {
		return bad("config.json is not the configuration of the image (its digest is sha256:%x)", sum)
	}
	if !json.Valid(manifest) {
		return bad("manifest.json is not JSON")
	}
	c, err := parseConfig(config)
	if err != nil {
		return bad("config.json: %v", err)
	}
	if !slices.Equal(c.RootFS.DiffIDs, img.Layers) {
		return bad("the index lists other layers than its configuration")
	}
	var ps []Problem
	for _, l := range img.Layers {
		if !s.HasLayer(l) {
			ps = append(ps, Problem{Kind: ProblemImage, Image: img.ID, Layer: l, Path: "layers/" + hexOf(l), Detail: "layer " + l + " is missing"})
		}
	}
	return ps
}

// checkLayer checks a present layer directory: its record, its tree, and
// (with opts.VerifyLayer) its files.
func (s *Store) checkLayer(diffID string, opts CheckOptions) []Problem {
	bad := func(format string, args ...any) []Problem {
		return []Problem{{Kind: ProblemLayer, Layer: diffID, Path: "layers/" + hexOf(diffID), Detail: fmt.Sprintf(format, args...)}}
	}
	l, err := s.ReadLayer(diffID)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return bad("layer.json is missing (the layer was never committed)")
	case err != nil:
		return bad("layer.json: %v", err)
	case l.DiffID != diffID:
		return bad("layer.json records layer %s", l.DiffID)
	}
	if fi, err := os.Stat(s.DiffDir(diffID)); err != nil || !fi.IsDir() {
		return bad("its files (diff/) are missing")
	}
	if _, err := os.Stat(filepath.Join(s.LayerDir(diffID), TarSplitFile)); err != nil {
		return bad("the record of its files (%s) is missing", TarSplitFile)
	}
	if opts.VerifyLayer == nil {
		return nil
	}
	return opts.VerifyLayer(diffID)
}

// checkContainers finds container storage that nobody owns: its rless
// process is gone (a kept container's storage has no process: its record
// owns it), or a temporary entry of a dead process.
func (s *Store) checkContainers(known func(string) bool) []Problem {
	entries, _ := os.ReadDir(filepath.Join(s.root, "containers"))
	var ps []Problem
	for _, e := range entries {
		pid := s.ownerOf(e.Name())
		switch {
		case pid > 0 && (pid == os.Getpid() || proc.Alive(pid)):
		case pid == 0 && known != nil && known(e.Name()):
		case pid > 0:
			ps = append(ps, Problem{Kind: ProblemContainer, Path: "containers/" + e.Name(), Detail: fmt.Sprintf("its rless (pid %d) is gone", pid)})
		default:
			ps = append(ps, Problem{Kind: ProblemContainer, Path: "containers/" + e.Name(), Detail: "no container has it"})
		}
	}
	return ps
}

func isIndexProblem(p Problem) bool { return p.Kind == ProblemIndex }

// idle reports whether no process holds the flock at path.
func (s *Store) idle(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

// unwrapPath drops the path of a *fs.PathError for a shorter report.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", filepath.Base(pe.Path), pe.Err)
	}
	return err
}

// RepairReport is what Repair did.
type RepairReport struct {
	// Removed names what was removed: "image ID", "layer DIFFID" or the
	// entry's path in the store.
	Removed []string `json:"removed,omitempty"`
	// Kept are the IDs of the damaged images left in place because a
	// container uses them.
	Kept []string `json:"kept,omitempty"`
	// Rebuilt is set when the index was made again from the images'
	// files; the images lost their names.
	Rebuilt bool `json:"rebuilt,omitempty"`
}

// Repair removes what Check found wrong, so that the next pull fetches it
// again: the damaged images (except those inUse reports, which keep their
// layers too), the damaged and unused layers no remaining image has,
// container storage nobody owns, and what killed writers left. An index
// that cannot be read is first made again from the images' files (their
// names are lost: they were only in the index). Like every removal of
// layer files, it must run in the user namespace of the store's owner.
func (s *Store) Repair(r *CheckReport, inUse InUse) (RepairReport, error) {
	var rep RepairReport
	var errs []error
	if slices.ContainsFunc(r.Problems, isIndexProblem) {
		if err := s.rebuildIndex(); err != nil {
			return rep, err
		}
		rep.Rebuilt = true
		// What the images of the new index have wrong.
		again, err := s.Check(r.opts)
		if err != nil {
			return rep, err
		}
		r = again
	}
	damaged := r.DamagedImages()
	var deleted []Image
	err := s.update(func(ix *index) error {
		ix.Images = slices.DeleteFunc(ix.Images, func(img Image) bool {
			if !slices.Contains(damaged, img.ID) {
				return false
			}
			if inUse != nil && inUse(img.ID) {
				rep.Kept = append(rep.Kept, img.ID)
				return false
			}
			deleted = append(deleted, img)
			return true
		})
		return nil
	})
	if err != nil {
		return rep, err
	}
	for _, img := range deleted {
		rep.Removed = append(rep.Removed, "image "+img.ID)
	}
	errs = append(errs, s.collect(deleted))
	var layers []string
	for _, p := range r.Problems {
		switch p.Kind {
		case ProblemLayer, ProblemUnusedLayer:
			if !slices.Contains(layers, p.Layer) {
				layers = append(layers, p.Layer)
			}
		case ProblemContainer:
			name := strings.TrimPrefix(p.Path, "containers/")
			if err := s.RemoveContainer(name); err != nil {
				errs = append(errs, err)
			} else {
				rep.Removed = append(rep.Removed, p.Path)
			}
		case ProblemLeftover:
			if err := s.removeLeftover(p.Path); err != nil {
				errs = append(errs, err)
			} else {
				rep.Removed = append(rep.Removed, p.Path)
			}
		}
	}
	errs = append(errs, s.RemoveUnusedLayers(layers))
	for _, l := range layers {
		if _, err := os.Lstat(s.LayerDir(l)); errors.Is(err, fs.ErrNotExist) {
			rep.Removed = append(rep.Removed, "layer "+l)
		}
	}
	return rep, errors.Join(errs...)
}

// removeLeftover removes a temporary or trash entry (a path relative to
// the root), under the lock its writer would hold.
func (s *Store) removeLeftover(rel string) error {
	dir, name := filepath.Split(rel)
	lock := filepath.Join(s.root, "store.lock")
	if dir == "layers/" {
		lock = filepath.Join(s.root, "layers", strings.TrimPrefix(name, ".tmp-")+".lock")
	}
	unlock, err := flock(lock)
	if err != nil {
		return err
	}
	defer unlock()
	if err := removeAll(filepath.Join(s.root, rel)); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}

// rebuildIndex writes a new index of the images whose files are whole,
// without names.
func (s *Store) rebuildIndex() error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	entries, err := os.ReadDir(filepath.Join(s.root, "images"))
	if err != nil {
		return fmt.Errorf("rebuild store index: %w", err)
	}
	ix := index{Version: 1, Images: []Image{}}
	for _, e := range entries {
		config, err := s.ReadConfig(e.Name())
		if sum := sha256.Sum256(config); err != nil || hex.EncodeToString(sum[:]) != e.Name() {
			continue
		}
		c, err := parseConfig(config)
		if err != nil {
			continue
		}
		img := Image{ID: e.Name(), Layers: c.RootFS.DiffIDs, Created: c.Created, Added: time.Now().UTC()}
		if img.Layers == nil {
			img.Layers = []string{}
		}
		for _, l := range img.Layers {
			if rec, err := s.ReadLayer(l); err == nil {
				img.Size += rec.Size
			}
		}
		ix.Images = append(ix.Images, img)
	}
	if err := s.write(&ix); err != nil {
		return fmt.Errorf("rebuild store index: %w", err)
	}
	return nil
}

// imageConfig is what the store reads of an image configuration.
type imageConfig struct {
	Created time.Time `json:"created"`
	RootFS  struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

func parseConfig(config []byte) (imageConfig, error) {
	var c imageConfig
	err := json.Unmarshal(config, &c)
	return c, err
}
