package engine

import (
	"context"

	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/reexec"
	"github.com/rless/rless/pkg/store"
)

// Volume is a named volume of the store.
type Volume = store.Volume

// ErrNoVolume is returned (wrapped) for a volume the store lacks;
// ErrVolumeInUse by RemoveVolume for one a container mounts.
var (
	ErrNoVolume     = store.ErrNoVolume
	ErrVolumeExists = store.ErrVolumeExists
	ErrVolumeInUse  = store.ErrInUse
)

// CreateVolume makes a named volume ("": a random name).
func (e *Engine) CreateVolume(name string) (Volume, error) {
	s, err := e.openStore()
	if err != nil {
		return Volume{}, err
	}
	return s.CreateVolume(name)
}

// Volume returns the volume name.
func (e *Engine) Volume(name string) (Volume, error) {
	s, err := e.openStore()
	if err != nil {
		return Volume{}, err
	}
	return s.Volume(name)
}

// Volumes lists the volumes.
func (e *Engine) Volumes() ([]Volume, error) {
	s, err := e.openStore()
	if err != nil {
		return nil, err
	}
	return s.Volumes()
}

// VolumeInUse reports whether a container that is not stopped mounts v.
func (e *Engine) VolumeInUse(v Volume) bool { return container.MountsPath(e.runRoot, v.Mountpoint) }

// RemoveVolume removes volume name and its content (inside the user's
// namespace, where the files a container wrote belong), refusing one a
// container that is not stopped mounts (ErrVolumeInUse) unless force.
func (e *Engine) RemoveVolume(ctx context.Context, name string, force bool) error {
	out, err := inUserNS(ctx, e, removeVolumeFunc, removeArgs{Root: e.root, RunRoot: e.runRoot, Refs: []string{name}, Force: force})
	if err != nil {
		return err
	}
	return out.err()
}

// PruneVolumes removes the volumes no container mounts, and returns their
// names.
func (e *Engine) PruneVolumes(ctx context.Context) ([]string, error) {
	out, err := inUserNS(ctx, e, pruneVolumesFunc, removeArgs{Root: e.root, RunRoot: e.runRoot})
	if err != nil {
		return nil, err
	}
	return out.Result.Deleted, out.err()
}

var removeVolumeFunc = reexec.Register("store.remove-volume", func(ctx context.Context, a removeArgs) (removeOutcome, error) {
	s, err := store.Open(a.Root)
	if err != nil {
		return removeOutcome{}, err
	}
	for _, name := range a.Refs {
		v, err := s.Volume(name)
		if err != nil {
			return outcome(RemoveResult{}, err)
		}
		if !a.Force && container.MountsPath(a.RunRoot, v.Mountpoint) {
			o, _ := outcome(RemoveResult{}, nil)
			o.Err, o.Kind = "volume "+name+" is in use by a container", "in-use"
			return o, nil
		}
		if err := s.RemoveVolume(name); err != nil {
			return outcome(RemoveResult{}, err)
		}
	}
	return outcome(RemoveResult{Deleted: a.Refs}, nil)
})

var pruneVolumesFunc = reexec.Register("store.prune-volumes", func(ctx context.Context, a removeArgs) (removeOutcome, error) {
	s, err := store.Open(a.Root)
	if err != nil {
		return removeOutcome{}, err
	}
	vs, err := s.Volumes()
	if err != nil {
		return removeOutcome{}, err
	}
	var done []string
	for _, v := range vs {
		if container.MountsPath(a.RunRoot, v.Mountpoint) {
			continue
		}
		if err := s.RemoveVolume(v.Name); err != nil {
			return outcome(RemoveResult{Deleted: done}, err)
		}
		done = append(done, v.Name)
	}
	return outcome(RemoveResult{Deleted: done}, nil)
})
