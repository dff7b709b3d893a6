package engine

import (
	"context"
	"errors"
)

// PruneSystemOptions say what PruneSystem removes besides the stopped
// containers and the images without names.
type PruneSystemOptions struct {
	// All removes every image no container uses, not only those without
	// names.
	All bool
	// Volumes removes the volumes no container mounts.
	Volumes bool
}

// PruneSystemReport is what PruneSystem removed.
type PruneSystemReport struct {
	// Containers are the ids of the containers deleted, Images the IDs
	// of the images, Volumes the names of the volumes.
	Containers, Images, Volumes []string
	// Reclaimed is the disk space the image layers removed took, in
	// bytes (the containers' writable layers and the volumes' content
	// are not measured).
	Reclaimed int64
}

// PruneSystem deletes the stopped detached containers (as Prune does),
// then, with opts.Volumes, the volumes no container mounts (PruneVolumes),
// then the images without names, or with opts.All every image no
// container uses (PruneImages), as podman's system prune does. It goes on
// past a failure; what was removed is reported also when an error is
// returned (the failures, joined).
func (e *Engine) PruneSystem(ctx context.Context, opts PruneSystemOptions) (PruneSystemReport, error) {
	var r PruneSystemReport
	var errs []error
	before, uerr := e.Usage()
	ids, err := e.Prune(ctx)
	r.Containers = ids
	errs = append(errs, err)
	if opts.Volumes {
		names, err := e.PruneVolumes(ctx)
		r.Volumes = names
		errs = append(errs, err)
	}
	imgs, err := e.PruneImages(ctx, opts.All)
	r.Images = imgs
	errs = append(errs, err)
	if after, err := e.Usage(); uerr == nil && err == nil && after.LayerSize < before.LayerSize {
		r.Reclaimed = before.LayerSize - after.LayerSize
	}
	return r, errors.Join(errs...)
}
