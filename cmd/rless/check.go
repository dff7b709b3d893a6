package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rless/rless/pkg/engine"
	"github.com/rless/rless/pkg/store"
	"github.com/spf13/cobra"
)

func newSystemCheckCmd(g *globals) *cobra.Command {
	var opts engine.CheckOptions
	cmd := &cobra.Command{
		Use:   "check [flags]",
		Short: "Check the image store and, with --repair, mend it",
		Long: `Check the image store, as podman system check does: the index of images;
each image's manifest and configuration (against its ID) and its layers;
each layer's files against the record made when it was unpacked, every
byte of them (--quick: only that each file is there with its size); layers
no image has, older than --max; container storage no container owns; and
what killed commands left. Each problem is printed naming the image, the
layer and the file; nothing printed means nothing was found.

--repair then removes the damaged images (never one a running container
uses) and layers, so that the next pull fetches them again, and what is
left over, and checks again. The exit status is 0 when the store is whole
(after --repair, when it is whole again), 1 when it is not, 125 when it
could not be checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			r, err := e.StoreCheck(cmd.Context(), opts)
			out := cmd.OutOrStdout()
			writeProblems(out, r.Problems, r.Images)
			writeRepairs(out, r.Repaired, r.Images)
			if err != nil {
				return err
			}
			remaining := r.Problems
			if opts.Repair && len(r.Problems) > 0 {
				remaining = r.Remaining
				if len(remaining) > 0 {
					fmt.Fprintln(out, "Still wrong after the repair:")
					writeProblems(out, remaining, r.Images)
				}
			}
			if len(remaining) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.Quick, "quick", "q", false, "check that layer files are there with their sizes, without reading them")
	fl.BoolVarP(&opts.Repair, "repair", "r", false, "remove damaged images and layers (not those a running container uses) and leftovers")
	fl.DurationVarP(&opts.MaxUnused, "max", "m", 24*time.Hour, "count layers no image has as problems once they are this old")
	return cmd
}

// writeProblems prints problems grouped by what they concern: a damaged
// layer with its files, an image with its faults, then one line for each
// other problem.
func writeProblems(w io.Writer, problems []store.Problem, names map[string][]string) {
	var order []string
	groups := map[string][]string{}
	for _, p := range problems {
		var head, line string
		switch p.Kind {
		case store.ProblemLayer:
			head, line = "Damaged layer "+p.Layer, p.Detail
			if p.Path != "" && !strings.HasPrefix(p.Path, "layers/") {
				line = "file " + p.Path + ": " + p.Detail
			}
		case store.ProblemImage:
			head, line = "Damaged image "+imageName(p.Image, names), p.Detail
		case store.ProblemIndex:
			head, line = "Damaged index "+p.Path, p.Detail
		case store.ProblemUnusedLayer:
			head, line = "Unused layer "+p.Layer, p.Detail
		case store.ProblemContainer:
			head, line = "Container storage without a container "+p.Path, p.Detail
		default:
			head, line = "Left over "+p.Path, p.Detail
		}
		if _, ok := groups[head]; !ok {
			order = append(order, head)
		}
		groups[head] = append(groups[head], line)
	}
	for _, head := range order {
		fmt.Fprintf(w, "%s:\n", head)
		for _, line := range groups[head] {
			fmt.Fprintf(w, "\t%s\n", line)
		}
	}
}

// writeRepairs prints what a repair removed and kept.
func writeRepairs(w io.Writer, r store.RepairReport, names map[string][]string) {
	if r.Rebuilt {
		fmt.Fprintln(w, "Rebuilt the index from the images' files (their names are lost)")
	}
	for _, what := range r.Removed {
		if id, ok := strings.CutPrefix(what, "image "); ok {
			what = "image " + imageName(id, names)
		}
		fmt.Fprintf(w, "Removed %s\n", what)
	}
	for _, id := range r.Kept {
		fmt.Fprintf(w, "Kept image %s: a container uses it\n", imageName(id, names))
	}
}

// imageName is an image's short ID and its names.
func imageName(id string, names map[string][]string) string {
	s := id[:min(12, len(id))]
	if n := names[id]; len(n) > 0 {
		s += " (" + strings.Join(n, ", ") + ")"
	}
	return s
}
