package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	units "github.com/docker/go-units"
	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
)

// imagesLong is the help of images.
const imagesLong = `List the images of the store, one line per name (the newest image first),
as podman does. With REFERENCE, only the images it finds or whose names it
matches (a pattern of shell wildcards, matched against the name in full,
without its domain, or its last element, each with or without the tag).

--format is json (podman's JSON: an object per line of the listing), or a
Go template printed for each line, "table TEMPLATE" for aligned columns
under headers. The template sees podman's fields: .ID (12 hex digits), .Id,
.Repository, .Tag, .Digest, .Size and .Created (as the listing shows
them), .CreatedAt, .CreatedSince, .Names, .Labels, .RepoTags,
.RepoDigests, .History, .Containers, .Dangling, .ReadOnly, .ParentId,
.VirtualSize and .SharedSize (in bytes).`

// imagesHeaders are the images columns' headers other than the fields'
// names (podman's).
var imagesHeaders = map[string]string{"ID": "IMAGE ID", "ReadOnly": "R/O"}

func newImagesCmd(g *globals, use string) *cobra.Command {
	var quiet, noTrunc, digests, noHeading, all bool
	var format string
	cmd := &cobra.Command{
		Use:   use + " [flags] [REFERENCE]",
		Short: "List images in local storage",
		Long:  imagesLong,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			imgs, err := e.ListImages(cmd.Context(), args...)
			if err != nil {
				return err
			}
			rows := imageRows(imgs, noTrunc, time.Now())
			out := cmd.OutOrStdout()
			switch {
			case quiet:
				writeImageIDs(out, rows)
				return nil
			case isJSONFormat(format):
				return writeJSON(out, imagesJSON(rows))
			}
			rep, err := parseReport("images", format, imagesDefaultRow(digests))
			if err != nil {
				return codeError{125, err}
			}
			if err := rep.write(out, rows, imagesHeaders, noHeading); err != nil {
				return codeError{125, err}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&quiet, "quiet", "q", false, "print image IDs only")
	fl.BoolVar(&noTrunc, "no-trunc", false, "print full image IDs")
	fl.BoolVar(&digests, "digests", false, "show the images' digests")
	fl.BoolVarP(&noHeading, "noheading", "n", false, "do not print the header line")
	fl.BoolVarP(&all, "all", "a", false, "show intermediate images too (rless keeps none: no effect)")
	fl.StringVar(&format, "format", "", "json, or a Go template printed for each image")
	return cmd
}

// imagesDefaultRow is the template of a line of images's default table
// (podman's).
func imagesDefaultRow(digests bool) string {
	row := []string{"{{if .Repository}}{{.Repository}}{{else}}<none>{{end}}", "{{if .Tag}}{{.Tag}}{{else}}<none>{{end}}"}
	if digests {
		row = append(row, "{{.Digest}}")
	}
	return strings.Join(append(row, "{{.ID}}", "{{.Created}}", "{{.Size}}"), "\t")
}

// imageRow is a line of images: an image under one of its names, with
// the fields and methods of podman's (its imageReporter) for templates.
type imageRow struct {
	Repository string
	Tag        string
	engine.ImageSummary
	noTrunc bool
	now     time.Time
}

// imageRows returns the lines of images at now: one per name of each
// image that has a tag (an image with names but no tag gets one line, of
// its first name; one without names, one line of <none>).
func imageRows(imgs []engine.ImageSummary, noTrunc bool, now time.Time) []imageRow {
	rows := make([]imageRow, 0, len(imgs))
	for _, img := range imgs {
		var tagged, untagged []imageRow
		for _, n := range img.RepoTags {
			repo, tag := repoTag(n)
			r := imageRow{Repository: repo, Tag: tag, ImageSummary: img, noTrunc: noTrunc, now: now}
			if tag == "<none>" {
				untagged = append(untagged, r)
			} else {
				tagged = append(tagged, r)
			}
		}
		switch {
		case len(tagged) > 0:
			rows = append(rows, tagged...)
		case len(untagged) > 0:
			rows = append(rows, untagged[0])
		default:
			rows = append(rows, imageRow{Repository: "<none>", Tag: "<none>", ImageSummary: img, noTrunc: noTrunc, now: now})
		}
	}
	return rows
}

// repoTag splits a stored name into its repository and its tag ("<none>"
// for a name by digest).
func repoTag(n string) (string, string) {
	if i := strings.IndexByte(n, '@'); i >= 0 {
		return n[:i], "<none>"
	}
	if i := strings.LastIndexByte(n, ':'); i > strings.LastIndexByte(n, '/') {
		return n[:i], n[i+1:]
	}
	return n, "<none>"
}

// ID returns the image's ID: 12 hex digits, or in full with sha256: when
// the listing is not truncated.
func (r imageRow) ID() string {
	if !r.noTrunc && len(r.ImageSummary.ID) >= 12 {
		return r.ImageSummary.ID[:12]
	}
	return "sha256:" + r.ImageSummary.ID
}

// Id returns the image's full ID (64 hex digits), as podman's .Id.
func (r imageRow) Id() string { return r.ImageSummary.ID }

// created is the image's creation time.
func (r imageRow) created() time.Time { return time.Unix(r.ImageSummary.Created, 0) }

// Created returns how long ago the image was created, in words.
func (r imageRow) Created() string { return units.HumanDuration(r.now.Sub(r.created())) + " ago" }

// CreatedSince is Created.
func (r imageRow) CreatedSince() string { return r.Created() }

// CreatedAt returns the image's creation time.
func (r imageRow) CreatedAt() string { return r.created().String() }

// CreatedTime is CreatedAt.
func (r imageRow) CreatedTime() string { return r.CreatedAt() }

// Size returns the image's size in words, as the listing shows it.
func (r imageRow) Size() string { return imageSize(r.ImageSummary.Size) }

// History returns the image's names history, separated by commas.
func (r imageRow) History() string { return strings.Join(r.ImageSummary.History, ", ") }

// imageSize returns a size in podman's words for images: three
// significant digits and a decimal unit, apart ("2.42 MB").
func imageSize(n int64) string {
	s := units.HumanSizeWithPrecision(float64(n), 3)
	j := strings.LastIndexFunc(s, unicode.IsNumber)
	return s[:j+1] + " " + s[j+1:]
}

// writeImageIDs writes the IDs of rows, each once.
func writeImageIDs(w io.Writer, rows []imageRow) {
	seen := map[string]bool{}
	for _, r := range rows {
		if id := r.ID(); !seen[id] {
			seen[id] = true
			fmt.Fprintln(w, id)
		}
	}
}

// imageJSON is a line of images as --format json prints it (podman's
// form: the summary, its time of creation both in seconds and as text,
// and no RepoTags).
type imageJSON struct {
	engine.ImageSummary
	Created   int64
	CreatedAt string
}

// imagesJSON returns rows as --format json prints them.
func imagesJSON(rows []imageRow) []imageJSON {
	out := make([]imageJSON, 0, len(rows))
	for _, r := range rows {
		j := imageJSON{ImageSummary: r.ImageSummary, Created: r.ImageSummary.Created, CreatedAt: r.created().Format(time.RFC3339Nano)}
		j.RepoTags = nil
		out = append(out, j)
	}
	return out
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
	cmd.AddCommand(newSystemCheckCmd(g), newSystemDfCmd(g), newSystemPruneCmd(g))
	return cmd
}

// printJSON writes v to stdout as JSON, indented by four spaces.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}
