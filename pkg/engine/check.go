package engine

import (
	"context"
	"time"

	"github.com/rless/rless/pkg/store"
)

// CheckOptions say how StoreCheck looks and what it mends.
type CheckOptions struct {
	// Quick checks that each layer file is present with its size,
	// without reading its content.
	Quick bool
	// Repair removes what is damaged (see store.Store.Repair).
	Repair bool
	// MaxUnused is the age beyond which a layer no image has counts as a
	// problem (podman's --max; 0: every such layer).
	MaxUnused time.Duration
}

// StoreProblem is one thing StoreCheck found wrong.
type StoreProblem = store.Problem

// CheckReport is what StoreCheck found and, with Repair, did.
type CheckReport struct {
	// Problems are what was found, in the order of the store's parts:
	// index, images, layers, unused layers, containers, leftovers.
	Problems []StoreProblem
	// Images names the images of the store by ID (for reports).
	Images map[string][]string
	// Repaired is what Repair did; Remaining what a check after it
	// still finds (empty when the store is whole again).
	Repaired  store.RepairReport
	Remaining []StoreProblem
}

// checkArgs are the arguments of the store check run in the user's
// namespace.
type checkArgs struct {
	Root, RunRoot string
	Options       CheckOptions
	// Known are the ids of the containers the engine has a record of.
	Known []string
}

// StoreCheck checks the image store (podman's system check): the index,
// each image's files, each layer's files against what was recorded when
// it was unpacked (opts.Quick: presence and sizes only), container storage
// no container owns, and what killed writers left. With opts.Repair it
// then removes what is damaged, never an image a running container uses,
// so that the next pull fetches it again. It runs in the user's namespace,
// where the layers' files belong.
func (e *Engine) StoreCheck(ctx context.Context, opts CheckOptions) (CheckReport, error) {
	ctrs, err := e.Containers(ctx)
	if err != nil {
		return CheckReport{}, err
	}
	a := checkArgs{Root: e.root, RunRoot: e.runRoot, Options: opts}
	for _, c := range ctrs {
		a.Known = append(a.Known, c.ID)
	}
	return inUserNS(ctx, e, checkFunc, a)
}
