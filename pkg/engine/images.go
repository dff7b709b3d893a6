package engine

import (
	"context"
	"errors"
	"os"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/reexec"
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
