package main

import (
	"errors"
	"os"

	"github.com/rless/rless/pkg/overlay"
	"github.com/rless/rless/pkg/userns"
	"github.com/spf13/cobra"
)

// overlayDetection returns the driver that works for the store, probing
// (once per store and kernel) inside the user namespace when no answer is
// cached. host is what userns.DetectHost found.
func overlayDetection(cmd *cobra.Command, g *globals, host *userns.Host) (overlay.Detection, error) {
	if d, ok := overlay.Cached(g.root); ok {
		return d, nil
	}
	if err := os.MkdirAll(g.root, 0o700); err != nil {
		return overlay.Detection{}, err
	}
	if err := runHidden(cmd, g, host, probeCommand); err != nil {
		return overlay.Detection{}, err
	}
	d, ok := overlay.Cached(g.root)
	if !ok {
		return d, errors.New("overlay driver probe: no answer")
	}
	return d, nil
}

// probeCommand is the hidden command that finds the overlay driver that
// works and caches the answer, run inside the user's default mapping.
const probeCommand = "__probe-overlay"

func newProbeOverlayCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    probeCommand,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if done, err := inUserNS(cmd, g); done {
				return err
			}
			d, err := overlay.Probe(g.root)
			if err != nil {
				return err
			}
			return overlay.SaveCache(g.root, d)
		},
	}
}
