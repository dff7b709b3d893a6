package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

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

// dfSummary is a line of system df: the disk space of a kind of object
// (podman's dfSummary, whose fields and methods templates see).
type dfSummary struct {
	Type string
	// Total is the number of objects, Active of those in use.
	Total, Active int
	// RawSize is their size, RawReclaimable what removing those not in
	// use would free, in bytes.
	RawSize        int64 `json:"Size"`
	RawReclaimable int64 `json:"Reclaimable"`
}

// Size returns the size in words.
func (d *dfSummary) Size() string { return units.HumanSize(float64(d.RawSize)) }

// Reclaimable returns the size that removing the objects not in use would
// free, in words, with its share of the size.
func (d *dfSummary) Reclaimable() string {
	percent := 0
	if d.RawSize > 0 {
		percent = int(math.Round(float64(d.RawReclaimable) / float64(d.RawSize) * 100))
	}
	return fmt.Sprintf("%s (%d%%)", units.HumanSize(float64(d.RawReclaimable)), percent)
}

// dfSummaries returns system df's lines for du, as podman counts: an
// image (one per name, as podman's) is active when a container uses it and
// reclaimable otherwise; a container is active when it runs, its
// writable layer reclaimable otherwise; a volume's Active counts the
// containers that mount it, and one that none mounts is reclaimable.
func dfSummaries(du engine.DiskUsage) []*dfSummary {
	imgs := &dfSummary{Type: "Images", Total: len(du.Images)}
	for _, i := range du.Images {
		imgs.RawSize += i.Size
		if i.Containers > 0 {
			imgs.Active++
		} else {
			imgs.RawReclaimable += i.Size
		}
	}
	ctrs := &dfSummary{Type: "Containers", Total: len(du.Containers)}
	for _, c := range du.Containers {
		ctrs.RawSize += c.Size
		if c.Status == engine.Running {
			ctrs.Active++
		} else {
			ctrs.RawReclaimable += c.Size
		}
	}
	vols := &dfSummary{Type: "Local Volumes", Total: len(du.Volumes)}
	for _, v := range du.Volumes {
		vols.Active += v.Links
		vols.RawSize += v.Size
		vols.RawReclaimable += v.Reclaimable
	}
	return []*dfSummary{imgs, ctrs, vols}
}

// dfDefaultRow is the template of a line of system df's table.
const dfDefaultRow = "{{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"

func newSystemDfCmd(g *globals) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "df [flags]",
		Short: "Show the disk space images, containers and volumes use",
		Long: `Show the disk space of the images, the containers' writable layers and
the named volumes, as podman system df does: for each kind their number,
how many are in use (ACTIVE: images a container was made from, containers
running, the containers that mount volumes) and what removing those not
in use would free (RECLAIMABLE). An image is counted once per name, and
with the size podman gives it (see rless images).

--format is json, or a Go template printed for each kind, which sees
.Type, .Total, .Active, .Size and .Reclaimable ("table TEMPLATE" for
aligned columns under headers). -v lists each image, container and
volume.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			du, err := e.DiskUsage(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if verbose {
				return writeDfVerbose(out, du, time.Now())
			}
			sums := dfSummaries(du)
			if isJSONFormat(format) {
				return writeJSON(out, sums)
			}
			rep, err := parseReport("df", format, dfDefaultRow)
			if err != nil {
				return codeError{125, err}
			}
			if err := rep.write(out, sums, nil, false); err != nil {
				return codeError{125, err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "json, or a Go template printed for each kind of object")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list each image, container and volume")
	return cmd
}

// dfImage, dfContainer and dfVolume are the lines of system df -v.
type (
	dfImage struct {
		Repository, Tag, ImageID, Created, Size, SharedSize, UniqueSize string
		Containers                                                      int
	}
	dfContainer struct {
		ContainerID, Image, Command string
		LocalVolumes                int
		Size, Created, Status       string
		Names                       string
	}
	dfVolume struct {
		VolumeName string
		Links      int
		Size       string
	}
)

// writeDfVerbose writes system df -v at now: the images, the containers
// and the volumes, each in a table of its own, as podman does.
func writeDfVerbose(w io.Writer, du engine.DiskUsage, now time.Time) error {
	human := func(n int64) string { return units.HumanSize(float64(n)) }
	short := func(id string) string { return id[:min(12, len(id))] }
	var imgs []dfImage
	for _, i := range du.Images {
		imgs = append(imgs, dfImage{
			Repository: i.Repository, Tag: i.Tag, ImageID: short(i.ID), Created: units.HumanDuration(now.Sub(i.Created)),
			Size: human(i.Size), SharedSize: human(i.SharedSize), UniqueSize: human(i.UniqueSize), Containers: i.Containers,
		})
	}
	var ctrs []dfContainer
	for _, c := range du.Containers {
		ctrs = append(ctrs, dfContainer{
			ContainerID: short(c.ID), Image: short(c.ImageID), Command: strings.Join(c.Command, " "),
			LocalVolumes: c.LocalVolumes, Size: human(c.Size), Created: units.HumanDuration(now.Sub(c.Created)),
			Status: psState(c.Status), Names: c.Name,
		})
	}
	var vols []dfVolume
	for _, v := range du.Volumes {
		vols = append(vols, dfVolume{VolumeName: v.Name, Links: v.Links, Size: human(v.Size)})
	}
	sections := []struct {
		title, row string
		headers    map[string]string
		items      any
	}{
		{"Images space usage", "{{.Repository}}\t{{.Tag}}\t{{.ImageID}}\t{{.Created}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}", nil, imgs},
		{"Containers space usage", "{{.ContainerID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.Created}}\t{{.Status}}\t{{.Names}}", nil, ctrs},
		{"Local Volumes space usage", "{{.VolumeName}}\t{{.Links}}\t{{.Size}}", nil, vols},
	}
	for i, s := range sections {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s:\n\n", s.title)
		rep, err := parseReport("df", "", s.row)
		if err != nil {
			return err
		}
		if err := rep.write(w, s.items, s.headers, false); err != nil {
			return err
		}
	}
	return nil
}
