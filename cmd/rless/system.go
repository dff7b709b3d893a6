package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	units "github.com/docker/go-units"
	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
)

// stdinReader is where prompts read their answer (tests replace it).
var stdinReader io.Reader = os.Stdin

func newSystemPruneCmd(g *globals) *cobra.Command {
	var opts engine.PruneSystemOptions
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove stopped containers, dangling images and, with --volumes, unused volumes",
		Long: `Remove every stopped container, then (with --volumes) every volume no
container mounts, then every image without a name (with --all, every image
no container uses), as podman system prune does, after asking unless
--force. What was removed is printed under Deleted Containers, Deleted
Volumes and Deleted Images, then the disk space the removed image layers
took (the containers' writable layers and the volumes are not measured).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if !force {
				fmt.Fprint(out, pruneWarning(opts))
				if !confirmed(stdinReader) {
					return nil
				}
			}
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			r, err := e.PruneSystem(cmd.Context(), opts)
			writePruneReport(out, r, opts.Volumes)
			return err
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.All, "all", "a", false, "remove every image no container uses, not only those without a name")
	fl.BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	fl.BoolVar(&opts.Volumes, "volumes", false, "remove the volumes no container mounts too")
	return cmd
}

// pruneWarning returns what system prune asks before it removes what opts
// say (podman's words, without its networks and build cache).
func pruneWarning(opts engine.PruneSystemOptions) string {
	var b strings.Builder
	b.WriteString("WARNING! This command removes:\n\t- all stopped containers\n")
	if opts.Volumes {
		b.WriteString("\t- all volumes not used by at least one container\n")
	}
	if opts.All {
		b.WriteString("\t- all images without at least one container associated with them\n")
	} else {
		b.WriteString("\t- all dangling images\n")
	}
	b.WriteString("\nAre you sure you want to continue? [y/N] ")
	return b.String()
}

// confirmed reads an answer from r: true for one that starts with y or Y.
func confirmed(r io.Reader) bool {
	answer, _ := bufio.NewReader(r).ReadString('\n')
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(answer)), "y")
}

// writePruneReport writes what system prune removed, as podman does: a
// heading and the ids of each kind removed, then the space reclaimed.
func writePruneReport(w io.Writer, r engine.PruneSystemReport, volumes bool) {
	section := func(heading string, ids []string) {
		if len(ids) == 0 {
			return
		}
		fmt.Fprintln(w, heading)
		for _, id := range ids {
			fmt.Fprintln(w, id)
		}
	}
	section("Deleted Containers", r.Containers)
	if volumes {
		section("Deleted Volumes", r.Volumes)
	}
	section("Deleted Images", r.Images)
	fmt.Fprintf(w, "Total reclaimed space: %s\n", units.HumanSize(float64(r.Reclaimed)))
}
