package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
)

func newImagesCmd(g *globals, use string) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   use + " [flags] [REFERENCE]",
		Short: "List images in local storage",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			imgs, err := e.Images()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				img, err := e.Image(args[0])
				if err != nil {
					imgs = nil
				} else {
					imgs = []engine.Image{img}
				}
			}
			switch {
			case quiet:
				for _, img := range imgs {
					fmt.Println(idOf(img, noTrunc))
				}
				return nil
			case isJSONFormat(format):
				if imgs == nil {
					imgs = []engine.Image{}
				}
				return printJSON(imgs)
			case format != "" && strings.TrimSpace(format) != "table":
				rep, err := parseReport("images", format, "")
				if err != nil {
					return err
				}
				return rep.write(os.Stdout, imgs, map[string]string{"ID": "image id"}, false)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			for _, img := range imgs {
				names := img.Names
				if len(names) == 0 {
					names = []string{"<none>:<none>"}
				}
				for _, n := range names {
					repo, tag := splitName(n)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, tag, idOf(img, noTrunc), ago(img.Created), humanSize(img.Size))
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print image IDs only")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "print full image IDs")
	cmd.Flags().StringVar(&format, "format", "", "json, or a Go template over each image")
	return cmd
}

func idOf(img engine.Image, full bool) string {
	if full {
		return "sha256:" + img.ID
	}
	return img.ShortID()
}

// splitName splits a stored name into repository and tag (or digest).
func splitName(n string) (string, string) {
	if i := strings.IndexByte(n, '@'); i >= 0 {
		return n[:i], n[i+1:]
	}
	if i := strings.LastIndexByte(n, ':'); i > strings.LastIndexByte(n, '/') {
		return n[:i], n[i+1:]
	}
	return n, "<none>"
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "Less than a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%d months ago", int(d.Hours()/24/30))
	}
	return fmt.Sprintf("%d years ago", int(d.Hours()/24/365))
}

func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, units := float64(n), []string{"kB", "MB", "GB", "TB"}
	i := -1
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.3g %s", f, units[i])
}

func newInspectCmd(g *globals) *cobra.Command {
	f := &inspectFlags{kind: inspectImage}
	cmd := &cobra.Command{
		Use:   "inspect [flags] IMAGE [IMAGE...]",
		Short: "Show the configuration of images",
		Long: `Show the configuration of images as JSON, with podman's field names (Id,
RepoTags, RepoDigests, Created, Config, Architecture, Os, Size, RootFS,
Labels, History, ...), or through a Go template (--format '{{.Config.Cmd}}').`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(os.Stdout, os.Stderr, g, f, args)
		},
	}
	f.register(cmd, false)
	return cmd
}

func newRmiCmd(g *globals, use string) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   use + " [flags] IMAGE [IMAGE...]",
		Short: "Remove images from local storage",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			res, err := e.RemoveImages(cmd.Context(), args, force)
			for _, n := range res.Untagged {
				fmt.Printf("Untagged: %s\n", n)
			}
			for _, id := range res.Deleted {
				fmt.Printf("Deleted: %s\n", id)
			}
			switch {
			case errors.Is(err, engine.ErrImageNotFound):
				return codeError{1, err}
			case errors.Is(err, engine.ErrImageInUse):
				return codeError{2, err}
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove an image named by ID with all its names")
	return cmd
}

func newTagCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tag IMAGE TARGET [TARGET...]",
		Short: "Add names to an image",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			for _, t := range args[1:] {
				if err := e.Tag(args[0], t); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func newPruneCmd(g *globals) *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove images without names (all unused ones with --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			ids, err := e.PruneImages(cmd.Context(), all)
			for _, id := range ids {
				fmt.Println(id)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove every image no container uses")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not ask (rless never asks)")
	return cmd
}

func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images"}
	cmd.AddCommand(newImagesCmd(g, "ls"), newInspectCmd(g), newRmiCmd(g, "rm"), newTagCmd(g), newPruneCmd(g))
	cmd.AddCommand(engineCommands(g, true)...)
	return cmd
}

func newSystemCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage rless"}
	df := &cobra.Command{
		Use:   "df",
		Short: "Show the disk space images use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			u, err := e.Usage()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
			fmt.Fprintf(tw, "Images\t%d\t%d\t%s\t%s\n", u.Images, u.ActiveImages, humanSize(u.Size), humanSize(u.Reclaimable))
			fmt.Fprintf(tw, "Layers\t%d\t%d\t%s\t%s\n", u.Layers, u.Layers-u.UnusedLayers, humanSize(u.LayerSize), humanSize(u.UnusedLayerSize))
			return tw.Flush()
		},
	}
	cmd.AddCommand(df, newSystemPruneCmd(g))
	return cmd
}
