package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
)

// Kinds of object `rless inspect --type` takes.
const (
	inspectContainer = "container"
	inspectImage     = "image"
	inspectAll       = "all"
)

// inspectFlags are the flags of inspect and container inspect.
type inspectFlags struct {
	format string
	kind   string
	size   bool
}

const inspectLong = `Print what rless knows of containers (and, with rless inspect, images) as
a JSON array, with podman's field names: for a container its Id, Name,
Created, Path and Args, State (Status, Running, Paused, Pid, ExitCode,
Error, StartedAt, FinishedAt, Health), Image and ImageName, Mounts,
NetworkSettings (Ports), Config (Env, Cmd, Entrypoint, Labels, User,
WorkingDir, StopSignal, Healthcheck), HostConfig (RestartPolicy,
PortBindings, NetworkMode, AutoRemove, limits), LogPath and ConmonPidFile
(the pid file of its monitor, which names the supervisor).

--format is json (the default), or a Go template printed once per object,
which sees podman's Go field names:

    rless inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
    rless inspect -f '{{json .NetworkSettings.Ports}}' web
    rless inspect -f '{{.Config.Labels}}' web`

func newContainerInspectCmd(g *globals) *cobra.Command {
	f := &inspectFlags{kind: inspectContainer}
	cmd := &cobra.Command{
		Use:   "inspect [flags] CONTAINER [CONTAINER...]",
		Short: "Show the configuration and state of containers",
		Long:  strings.Replace(inspectLong, " (and, with rless inspect, images)", "", 1),
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.OutOrStdout(), cmd.ErrOrStderr(), g, f, args)
		},
	}
	f.register(cmd, false)
	return cmd
}

func newTopInspectCmd(g *globals) *cobra.Command {
	f := &inspectFlags{}
	cmd := &cobra.Command{
		Use:   "inspect [flags] NAME [NAME...]",
		Short: "Show the configuration and state of containers or images",
		Long: inspectLong + `

A NAME is looked up among the containers first, then the images, unless
--type says which.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.OutOrStdout(), cmd.ErrOrStderr(), g, f, args)
		},
	}
	f.register(cmd, true)
	return cmd
}

func (f *inspectFlags) register(cmd *cobra.Command, withType bool) {
	fl := cmd.Flags()
	fl.StringVarP(&f.format, "format", "f", "json", "json, or a Go template printed for each object")
	fl.BoolVarP(&f.size, "size", "s", false, "accepted for podman's sake and ignored: rless does not measure containers")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"json"}, cobra.ShellCompDirectiveNoFileComp))
	if withType {
		fl.StringVarP(&f.kind, "type", "t", inspectAll, "what NAME is: container, image or all (a container, else an image)")
		_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{inspectContainer, inspectImage, inspectAll}, cobra.ShellCompDirectiveNoFileComp))
	}
}

// runInspect prints the objects of names (f.kind says which kind) as
// f.format says, the objects found even when others are not; the error is
// that of the last one not found (the others are printed on stderr).
func runInspect(stdout, stderr io.Writer, g *globals, f *inspectFlags, names []string) error {
	switch f.kind {
	case inspectContainer, inspectImage, inspectAll:
	default:
		return codeError{125, fmt.Errorf("invalid type %q: must be %q, %q or %q", f.kind, inspectContainer, inspectImage, inspectAll)}
	}
	var rep *report
	if !isJSONFormat(f.format) && strings.TrimSpace(f.format) != "" {
		var err error
		if rep, err = parseReport("inspect", normalizeInspectFormat(f.format), ""); err != nil {
			return codeError{125, err}
		}
	}
	e, err := openEngine(g)
	if err != nil {
		return err
	}
	items := []any{}
	var errs []error
	for _, name := range names {
		item, err := inspectOne(e, f.kind, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, item)
	}
	if rep == nil {
		err = writeJSON(stdout, items)
	} else {
		err = rep.write(stdout, typedItems(items), nil, true)
	}
	if err != nil {
		return codeError{125, err}
	}
	if len(errs) == 0 {
		return nil
	}
	for _, err := range errs[:len(errs)-1] {
		fmt.Fprintf(stderr, "error inspecting object: %v\n", err)
	}
	return codeError{125, errs[len(errs)-1]}
}

// typedItems returns items as a []*engine.InspectData when they are all
// containers (so that a template's errors name the type), else as they
// are.
func typedItems(items []any) any {
	ctrs := make([]*engine.InspectData, 0, len(items))
	for _, it := range items {
		d, ok := it.(*engine.InspectData)
		if !ok {
			return items
		}
		ctrs = append(ctrs, d)
	}
	return ctrs
}

// inspectOne returns what inspect prints of the object of kind named name:
// an *engine.InspectData for a container, an *engine.ImageInspect for an
// image.
func inspectOne(e *engine.Engine, kind, name string) (any, error) {
	if kind != inspectImage {
		c, err := e.Load(name)
		if err == nil {
			return c.Inspect()
		}
		if !errors.Is(err, engine.ErrNotExist) {
			return nil, err
		}
		if kind == inspectContainer {
			return nil, fmt.Errorf("no such container %s", name)
		}
	}
	ii, err := e.InspectImage(name)
	if err == nil {
		return ii, nil
	}
	if kind == inspectAll && errors.Is(err, engine.ErrImageNotFound) {
		return nil, fmt.Errorf("no such object: %q", name)
	}
	return nil, err
}

var (
	// idField is the JSON name of the ID in a template: Go's is ID.
	idField = lazyRegexp(`{{\s*\.Id\s*}}`)
	// dockerFields are Docker's names of fields that podman's inspect
	// takes in templates for its own.
	dockerFields = strings.NewReplacer(".Src", ".Source", ".Dst", ".Destination", ".ImageID", ".Image")
)

// normalizeInspectFormat rewrites a template as podman's inspect does:
// {{.Id}} is {{.ID}}, and .Src, .Dst and .ImageID are .Source,
// .Destination and .Image.
func normalizeInspectFormat(format string) string {
	return dockerFields.Replace(idField().ReplaceAllString(format, "{{.ID}}"))
}

// writeJSON writes v to w as inspect prints it: indented by four spaces,
// HTML characters as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
