package engine

import (
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/reexec"
	"github.com/rless/rless/pkg/reference"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/store"
)

// Image is an image of the store.
type Image = store.Image

// ImageConfig is what running an image takes from its configuration.
type ImageConfig = store.ImageConfig

// ErrImageNotFound is returned (wrapped) for an image the store lacks.
var ErrImageNotFound = store.ErrNotFound

// ErrImageInUse is returned (wrapped) by RemoveImages for an image a
// container uses.
var ErrImageInUse = store.ErrInUse

// Images lists the images of the store.
func (e *Engine) Images() ([]Image, error) {
	s, err := e.openStore()
	if err != nil {
		return nil, err
	}
	return s.Images()
}

// Image returns the image ref names: a name, a tag, an ID or a unique
// prefix of one.
func (e *Engine) Image(ref string) (Image, error) {
	s, err := e.openStore()
	if err != nil {
		return Image{}, err
	}
	return s.Lookup(ref)
}

// ImageConfig returns the run configuration of image id.
func (e *Engine) ImageConfig(id string) (*ImageConfig, error) {
	s, err := e.openStore()
	if err != nil {
		return nil, err
	}
	return s.ImageConfig(id)
}

// Tag gives image (a reference or ID) the name ref.
func (e *Engine) Tag(image, ref string) error {
	s, err := e.openStore()
	if err != nil {
		return err
	}
	return s.Tag(image, ref)
}

// RemoveResult says what RemoveImages did.
type RemoveResult = store.RemoveResult

// RemoveImages removes the images refs name (an image with several names
// loses the name given, unless force), refusing those a container that is
// not stopped uses (ErrImageInUse) unless force. Their layers that no image
// uses any more go too, inside the user's namespace, where their files
// belong. What was done is returned also when an error stopped it.
func (e *Engine) RemoveImages(ctx context.Context, refs []string, force bool) (RemoveResult, error) {
	out, err := inUserNS(ctx, e, removeImagesFunc, removeArgs{Root: e.root, RunRoot: e.runRoot, Refs: refs, Force: force})
	if err != nil {
		return RemoveResult{}, err
	}
	return out.Result, out.err()
}

// PruneImages removes the images that have no name (all: also those no
// container uses), and returns their IDs.
func (e *Engine) PruneImages(ctx context.Context, all bool) ([]string, error) {
	out, err := inUserNS(ctx, e, pruneImagesFunc, removeArgs{Root: e.root, RunRoot: e.runRoot, All: all})
	if err != nil {
		return nil, err
	}
	return out.Result.Deleted, out.err()
}

// ImageFiles returns the manifest and the configuration of image id, as
// stored.
func (e *Engine) ImageFiles(id string) (manifest, config []byte, err error) {
	s, err := e.openStore()
	if err != nil {
		return nil, nil, err
	}
	return s.ReadImage(id)
}

// Usage is the disk space of the store.
type Usage = store.Usage

// Usage returns the disk space the store's images and layers take.
func (e *Engine) Usage() (Usage, error) {
	s, err := e.openStore()
	if err != nil {
		return Usage{}, err
	}
	return s.Usage()
}

// removeArgs are the arguments of the removal functions run in the user's
// namespace.
type removeArgs struct {
	Root, RunRoot string
	Refs          []string
	Force, All    bool
}

// removeOutcome is what a removal did, and the error that stopped it,
// kept apart so that the caller gets both.
type removeOutcome struct {
	Result RemoveResult
	Err    string
	Kind   string // "not-found", "in-use" or ""
}

func outcome(res RemoveResult, err error) (removeOutcome, error) {
	o := removeOutcome{Result: res}
	if err != nil {
		o.Err = err.Error()
		switch {
		case errors.Is(err, store.ErrNotFound):
			o.Kind = "not-found"
		case errors.Is(err, store.ErrInUse):
			o.Kind = "in-use"
		case errors.Is(err, store.ErrNoVolume):
			o.Kind = "no-volume"
		}
	}
	return o, nil
}

// err gives back the error of a removal, with its sentinel.
func (o removeOutcome) err() error {
	if o.Err == "" {
		return nil
	}
	sentinel := map[string]error{"not-found": store.ErrNotFound, "in-use": store.ErrInUse, "no-volume": store.ErrNoVolume}[o.Kind]
	if sentinel == nil {
		return errors.New(o.Err)
	}
	return &wrapped{msg: o.Err, err: sentinel}
}

// wrapped is an error whose text is msg and which wraps err.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

var removeImagesFunc = reexec.Register("store.remove-images", func(ctx context.Context, a removeArgs) (removeOutcome, error) {
	s, err := store.Open(a.Root)
	if err != nil {
		return removeOutcome{}, err
	}
	return outcome(s.Remove(a.Refs, a.Force, func(id string) bool { return container.UsesImage(a.RunRoot, id) }))
})

var pruneImagesFunc = reexec.Register("store.prune-images", func(ctx context.Context, a removeArgs) (removeOutcome, error) {
	s, err := store.Open(a.Root)
	if err != nil {
		return removeOutcome{}, err
	}
	ids, err := s.Prune(a.All, func(id string) bool { return container.UsesImage(a.RunRoot, id) })
	return outcome(RemoveResult{Deleted: ids}, err)
})

// inUserNS runs f with arg in the user's namespace.
func inUserNS[A, R any](ctx context.Context, e *Engine, f *reexec.Func[A, R], arg A) (R, error) {
	var zero R
	host, mapping, err := e.Host()
	if err != nil {
		return zero, err
	}
	r, err := f.Run(ctx, reexec.Options{Host: host, Mapping: mapping, Env: append(os.Environ(), reexec.RootlessEnv()...)}, arg)
	return r, err
}

// ImageSummary is what `images` lists of an image, with the field names
// of podman's (its entities.ImageSummary), so that a --format template
// or a JSON reader written for podman's reads rless's.
type ImageSummary struct {
	ID string `json:"Id"`
	// ParentId is the ID of the image this one was built on: the image
	// whose layers are this one's but the last ("" if none is stored).
	ParentId    string
	RepoTags    []string
	RepoDigests []string
	// Created is the image's creation time (from its configuration), in
	// seconds since the epoch.
	Created int64
	// Size is the disk space of the image as podman counts it (see
	// ImageSize); VirtualSize is the same.
	Size        int64
	SharedSize  int
	VirtualSize int64
	Labels      map[string]string
	// Containers is the number of containers (in any state) made from
	// the image.
	Containers int
	ReadOnly   bool `json:",omitempty"`
	// Dangling is true for an image with neither a name nor a child.
	Dangling bool `json:",omitempty"`

	Names  []string `json:",omitempty"`
	Digest string   `json:",omitempty"`
	// History is the image's names, the newest first (podman's names
	// history; rless does not remember the names an image lost).
	History []string `json:",omitempty"`
}

// ListImages returns the summaries of the store's images, the newest
// (by creation time) first, those of one time in the order they were
// stored. With refs, only the images one of refs matches (as podman's
// reference filter: a name or ID that finds the image, or a pattern of
// path.Match that one of its names matches in full, without its domain,
// or without its tag) are listed.
func (e *Engine) ListImages(ctx context.Context, refs ...string) ([]ImageSummary, error) {
	s, err := e.openStore()
	if err != nil {
		return nil, err
	}
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	// The store lists the newest addition first; podman, the oldest.
	slices.Reverse(imgs)
	if len(refs) > 0 {
		var looked []string
		for _, r := range refs {
			if img, err := s.Lookup(r); err == nil {
				looked = append(looked, img.ID)
			}
		}
		imgs = slices.DeleteFunc(imgs, func(img Image) bool {
			return !slices.Contains(looked, img.ID) && !slices.ContainsFunc(refs, func(r string) bool { return matchesReference(img, r) })
		})
	}
	users := map[string]int{}
	if ctrs, err := e.Containers(ctx); err == nil {
		for _, c := range ctrs {
			if c.ImageID != "" {
				users[c.ImageID]++
			}
		}
	}
	sizer := newImageSizer(s)
	out := make([]ImageSummary, 0, len(imgs))
	for _, img := range imgs {
		size, err := sizer.imageSize(img)
		if err != nil {
			return nil, err
		}
		sum := ImageSummary{
			ID: img.ID, RepoTags: img.Names, RepoDigests: repoDigests(img),
			Created: img.Created.Unix(), Size: size, VirtualSize: size,
			Containers: users[img.ID], Names: img.Names, Digest: img.Digest,
			History: namesHistory(img),
		}
		if p := parentOf(img, imgs); p != nil {
			sum.ParentId = p.ID
		}
		sum.Dangling = len(img.Names) == 0 && !hasChild(img, imgs)
		if cfg, err := s.ReadConfig(img.ID); err == nil {
			var c imageFile
			if json.Unmarshal(cfg, &c) == nil {
				sum.Labels = c.Config.Labels
			}
		}
		out = append(out, sum)
	}
	slices.SortStableFunc(out, func(a, b ImageSummary) int { return cmp.Compare(b.Created, a.Created) })
	return out, nil
}

// matchesReference reports whether pattern (a path.Match pattern) matches
// one of img's names: in full, or without its domain, or its last path
// element (each with and without the tag or digest), as podman's
// reference filter does.
func matchesReference(img Image, pattern string) bool {
	for _, name := range img.Names {
		n, err := reference.Parse(name)
		if err != nil {
			continue
		}
		full := n.String()
		trimmed := n.Name()
		suffix := full[len(trimmed):]
		candidates := []string{
			full, n.Path, full[strings.LastIndexByte(full, '/')+1:],
			trimmed, n.Path + suffix, trimmed[strings.LastIndexByte(trimmed, '/')+1:],
		}
		for _, c := range candidates {
			if ok, _ := path.Match(pattern, c); ok {
				return true
			}
		}
	}
	return false
}

// repoDigests returns the digested names of img (repository@digest), one
// per repository, sorted.
func repoDigests(img Image) []string {
	out := []string{}
	if img.Digest == "" {
		return out
	}
	for _, n := range img.Names {
		repo := n
		if i := strings.IndexByte(repo, '@'); i >= 0 {
			repo = repo[:i]
		} else if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
			repo = repo[:i]
		}
		if d := repo + "@" + img.Digest; !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// namesHistory returns img's names, the one given last first (podman's
// NamesHistory, less the names the image lost, which rless forgets).
func namesHistory(img Image) []string {
	h := slices.Clone(img.Names)
	slices.Reverse(h)
	return h
}

// parentOf returns the image of imgs that img was built on: one whose
// layers are img's but the last (nil if none).
func parentOf(img Image, imgs []Image) *Image {
	if len(img.Layers) < 2 {
		return nil
	}
	for i := range imgs {
		if imgs[i].ID != img.ID && slices.Equal(imgs[i].Layers, img.Layers[:len(img.Layers)-1]) {
			return &imgs[i]
		}
	}
	return nil
}

// hasChild reports whether an image of imgs was built on img.
func hasChild(img Image, imgs []Image) bool {
	for _, o := range imgs {
		if p := parentOf(o, imgs); p != nil && p.ID == img.ID {
			return true
		}
	}
	return false
}

// ImageSize returns the disk space of image ref as podman (containers/
// storage) counts it: the uncompressed size of each of its layers (the
// length of the layer's tar stream) and the size of its configuration
// and, twice (stored under two keys), of its manifest.
func (e *Engine) ImageSize(ref string) (int64, error) {
	s, err := e.openStore()
	if err != nil {
		return 0, err
	}
	img, err := s.Lookup(ref)
	if err != nil {
		return 0, err
	}
	return newImageSizer(s).imageSize(img)
}

// imageSizer measures images, each layer once.
type imageSizer struct {
	s      *store.Store
	layers map[string]int64
}

func newImageSizer(s *store.Store) *imageSizer {
	return &imageSizer{s: s, layers: map[string]int64{}}
}

func (z *imageSizer) imageSize(img Image) (int64, error) {
	var size int64
	for _, l := range img.Layers {
		n, ok := z.layers[l]
		if !ok {
			var err error
			if n, err = layerTarSize(z.s, l); err != nil {
				return 0, fmt.Errorf("size of image %s: %w", img.ShortID(), err)
			}
			z.layers[l] = n
		}
		size += n
	}
	m, c, err := z.s.ReadImage(img.ID)
	if err != nil {
		return 0, fmt.Errorf("size of image %s: %w", img.ShortID(), err)
	}
	return size + int64(len(c)) + 2*int64(len(m)), nil
}

// layerTarSize returns the length of the tar stream of layer diffID, from
// its tar-split record (the headers and padding, and the size of each
// file), or, for a layer without one, the size of its files.
func layerTarSize(s *store.Store, diffID string) (int64, error) {
	f, err := os.Open(filepath.Join(s.LayerDir(diffID), store.TarSplitFile))
	if errors.Is(err, fs.ErrNotExist) {
		l, err := s.ReadLayer(diffID)
		return l.Size, err
	}
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	defer f.Close()
	n, err := tarSplitSize(f)
	if err != nil {
		return 0, fmt.Errorf("layer %s: its tar-split record: %w", diffID, err)
	}
	return n, nil
}

// tarSplitSize returns the length of the tar stream a tar-split record
// (gzip'd JSON, one entry per line) describes: the raw segments between
// files and the files' sizes. The entries are read here rather than with
// tar-split's storage package, whose package initialisation (a CRC-64
// table, 64 KB) would count in every start of rless, for three fields.
func tarSplitSize(r io.Reader) (int64, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	dec := json.NewDecoder(zr)
	var n int64
	for {
		// tar-split's storage.Entry: type 1 is a file, whose size is
		// Size; type 2 a raw segment, in Payload.
		var e struct {
			Type    int    `json:"type"`
			Size    int64  `json:"size"`
			Payload []byte `json:"payload"`
		}
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		switch e.Type {
		case 2:
			n += int64(len(e.Payload))
		case 1:
			n += e.Size
		}
	}
}

// DiskUsage is what `system df` reports, as podman's: its images (one
// entry per name, as podman's), containers and volumes.
type DiskUsage struct {
	Images     []ImageDiskUsage
	Containers []ContainerDiskUsage
	Volumes    []VolumeDiskUsage
}

// ImageDiskUsage is the disk space of an image, under one of its names
// (Repository and Tag "<none>" for an image without one).
type ImageDiskUsage struct {
	Repository, Tag, ID string
	Created             time.Time
	// Size is the image's size (see ImageSize): SharedSize, what its
	// parent or children share with it, and UniqueSize, the rest.
	Size, SharedSize, UniqueSize int64
	// Containers is the number of containers made from the image.
	Containers int
}

// ContainerDiskUsage is the disk space of a container's writable layer.
type ContainerDiskUsage struct {
	ID, Name, ImageID string
	Command           []string
	Created           time.Time
	Status            Status
	// LocalVolumes is the number of named volumes it mounts.
	LocalVolumes int
	// Size is the size of the files it wrote (its writable layer).
	Size int64
}

// VolumeDiskUsage is the disk space of a named volume.
type VolumeDiskUsage struct {
	Name string
	// Links is the number of containers (in any state) that mount it.
	Links int
	// Size is the size of its files; Reclaimable is Size for a volume
	// no container mounts, else 0.
	Size, Reclaimable int64
}

// DiskUsage measures the images, containers and volumes of the store as
// podman's system df does. The sizes of files are those the user can
// read: a directory a container made unreadable to the user is not
// counted.
func (e *Engine) DiskUsage(ctx context.Context) (DiskUsage, error) {
	var du DiskUsage
	imgs, err := e.ListImages(ctx)
	if err != nil {
		return du, err
	}
	s, err := e.openStore()
	if err != nil {
		return du, err
	}
	for _, img := range imgs {
		base := ImageDiskUsage{
			Repository: "<none>", Tag: "<none>", ID: img.ID, Created: time.Unix(img.Created, 0),
			Size: img.Size, UniqueSize: img.Size, Containers: img.Containers,
		}
		switch {
		case slices.ContainsFunc(imgs, func(o ImageSummary) bool { return o.ParentId == img.ID }):
			base.SharedSize, base.UniqueSize = img.Size, 0
		case img.ParentId != "":
			if i := slices.IndexFunc(imgs, func(o ImageSummary) bool { return o.ID == img.ParentId }); i >= 0 {
				base.SharedSize = imgs[i].Size
				base.UniqueSize = img.Size - imgs[i].Size
			}
		}
		named := false
		for _, n := range img.Names {
			if strings.Contains(n, "@") {
				continue
			}
			u := base
			u.Repository, u.Tag = splitTag(n)
			du.Images = append(du.Images, u)
			named = true
		}
		if !named {
			du.Images = append(du.Images, base)
		}
	}
	ctrs, err := e.Containers(ctx)
	if err != nil {
		return du, err
	}
	vols, err := s.Volumes()
	if err != nil {
		return du, err
	}
	mounts := func(c ContainerInfo, v Volume) bool {
		return slices.ContainsFunc(c.Mounts, func(m specs.Mount) bool {
			return m.Source == v.Mountpoint || m.Type == spec.VolumeMount && m.Source == v.Name
		})
	}
	for _, c := range ctrs {
		u := ContainerDiskUsage{
			ID: c.ID, Name: c.Name, ImageID: c.ImageID, Command: c.Command, Created: c.Created,
			Status: c.Status, Size: dirSize(filepath.Join(s.Root(), "containers", c.ID, "upper")),
		}
		for _, v := range vols {
			if mounts(c, v) {
				u.LocalVolumes++
			}
		}
		du.Containers = append(du.Containers, u)
	}
	for _, v := range vols {
		u := VolumeDiskUsage{Name: v.Name, Size: dirSize(v.Mountpoint)}
		for _, c := range ctrs {
			if mounts(c, v) {
				u.Links++
			}
		}
		if u.Links == 0 {
			u.Reclaimable = u.Size
		}
		du.Volumes = append(du.Volumes, u)
	}
	return du, nil
}

// splitTag splits a name into its repository and its tag ("<none>" for
// none).
func splitTag(name string) (string, string) {
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[:i], name[i+1:]
	}
	return name, "<none>"
}

// dirSize returns the size of the regular files and symbolic links under
// dir, skipping what cannot be read (0 for a directory that is missing).
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0) {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}
