package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
)

func newCompletionCmd() *cobra.Command {
	var noDesc bool
	var file string
	cmd := &cobra.Command{
		Use:   "completion [flags] bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print the script that completes rless's commands, flags, images and
containers in a shell. For bash (with the bash-completion package):

    rless completion bash > ~/.local/share/bash-completion/completions/rless

for zsh, into a file named _rless of a directory of $fpath; for fish:

    rless completion fish > ~/.config/fish/completions/rless.fish`,
		Args:              cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs:         []string{"bash", "zsh", "fish", "powershell"},
		ValidArgsFunction: cobra.FixedCompletions([]string{"bash", "zsh", "fish", "powershell"}, cobra.ShellCompDirectiveNoFileComp),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			var w io.Writer = os.Stdout
			if file != "" && file != "-" {
				f, err := os.Create(file)
				if err != nil {
					return err
				}
				defer func() {
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}()
				w = f
			}
			return writeCompletion(cmd.Root(), w, args[0], !noDesc)
		},
	}
	cmd.Flags().BoolVar(&noDesc, "no-desc", false, "complete without descriptions")
	cmd.Flags().StringVarP(&file, "file", "f", "", "write the script to `FILE` (default: stdout)")
	return cmd
}

// writeCompletion writes root's completion script for shell to w.
func writeCompletion(root *cobra.Command, w io.Writer, shell string, desc bool) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, desc)
	case "zsh":
		if desc {
			return root.GenZshCompletion(w)
		}
		return root.GenZshCompletionNoDesc(w)
	case "fish":
		return root.GenFishCompletion(w, desc)
	case "powershell":
		if desc {
			return root.GenPowerShellCompletionWithDesc(w)
		}
		return root.GenPowerShellCompletion(w)
	}
	return fmt.Errorf("unknown shell %q: want bash, zsh, fish or powershell", shell)
}

// completeContainers completes every argument with the names of the
// containers (in one of states, if any are given) and, once two characters
// are typed, their IDs.
func completeContainers(g *globals, states ...engine.Status) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		e, err := openEngine(g)
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		infos, err := listContainers(ctx, e)
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return containerCompletions(infos, toComplete, states...), cobra.ShellCompDirectiveNoFileComp
	}
}

// containerCompletions returns the names of the containers of infos (in
// one of states, if any) that start with toComplete, and their short IDs
// (whole, past 12 digits) when toComplete has two characters or more.
func containerCompletions(infos []engine.ContainerInfo, toComplete string, states ...engine.Status) []string {
	var out []string
	for _, ci := range infos {
		if len(states) > 0 && !slices.Contains(states, ci.Status) {
			continue
		}
		if len(toComplete) > 1 && strings.HasPrefix(ci.ID, toComplete) {
			out = append(out, shortOrWhole(ci.ID, toComplete))
		}
		if ci.Name != "" && strings.HasPrefix(ci.Name, toComplete) {
			out = append(out, ci.Name)
		}
	}
	return out
}

func shortOrWhole(id, typed string) string {
	if len(typed) > 12 || len(id) < 12 {
		return id
	}
	return id[:12]
}

// completeImages completes every argument with the names of the images of
// the store (see imageCompletions).
func completeImages(g *globals) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		e, err := openEngine(g)
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		imgs, err := e.Images()
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return imageCompletions(imgs, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// imageCompletions returns the names of imgs that start with toComplete,
// as podman offers them: with nothing typed the whole names; else also
// their shorter forms, each with and without its tag
// (quay.io/x/httpd:1 offers quay.io/x/httpd, x/httpd:1, x/httpd, httpd:1
// and httpd), and, with two characters or more, the short IDs.
func imageCompletions(imgs []engine.Image, toComplete string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] && strings.HasPrefix(s, toComplete) {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, img := range imgs {
		if len(toComplete) > 1 && strings.HasPrefix(img.ID, toComplete) {
			add(shortOrWhole(img.ID, toComplete))
		}
		for _, n := range img.Names {
			if toComplete == "" {
				add(n)
				continue
			}
			parts := strings.Split(n, "/")
			for i := range parts {
				s := strings.Join(parts[i:], "/")
				if j := strings.IndexByte(s, '@'); j >= 0 {
					s = s[:j]
				}
				add(s)
				if j := strings.LastIndexByte(s, ':'); j > strings.LastIndexByte(s, '/') {
					add(s[:j])
				}
			}
		}
	}
	return out
}

// firstArg restricts f to a command's first argument: the others are not
// completed.
func firstArg(f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(cmd, args, toComplete)
	}
}

// completeRun completes run's image (not with --rootfs), then files.
func completeRun(g *globals) cobra.CompletionFunc {
	images := completeImages(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 || cmd.Flags().Changed("rootfs") {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return images(cmd, args, toComplete)
	}
}

// addCompletions gives the commands of root that take images or
// containers (and do not complete their arguments yet) their completion.
func addCompletions(root *cobra.Command, g *globals) {
	images := completeImages(g)
	containers := completeContainers(g)
	for _, c := range []struct {
		path []string
		f    cobra.CompletionFunc
	}{
		{[]string{"rmi"}, images},
		{[]string{"image", "rm"}, images},
		{[]string{"image", "inspect"}, images},
		{[]string{"inspect"}, completeInspect(g)},
		{[]string{"tag"}, firstArg(images)},
		{[]string{"image", "tag"}, firstArg(images)},
		{[]string{"save"}, images},
		{[]string{"image", "save"}, images},
		{[]string{"run"}, completeRun(g)},
		{[]string{"port"}, firstArg(completeContainers(g, engine.Running))},
		{[]string{"container", "inspect"}, containers},
	} {
		cmd, _, err := root.Find(c.path)
		if err != nil || cmd == root || cmd.Name() != c.path[len(c.path)-1] || cmd.ValidArgsFunction != nil {
			continue
		}
		cmd.ValidArgsFunction = c.f
	}
}

// completeInspect completes inspect's arguments with what its --type
// says: containers, images, or both (containers first).
func completeInspect(g *globals) cobra.CompletionFunc {
	containers, images := completeContainers(g), completeImages(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		kind := inspectAll
		if f := cmd.Flags().Lookup("type"); f != nil {
			kind = f.Value.String()
		}
		var out []cobra.Completion
		if kind != inspectImage {
			c, _ := containers(cmd, args, toComplete)
			out = append(out, c...)
		}
		if kind != inspectContainer {
			i, _ := images(cmd, args, toComplete)
			out = append(out, i...)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completePsFilter completes ps's --filter: the keys, then the values of
// status, health, and the containers of name, id, before and since.
func completePsFilter(g *globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		key, val, ok := strings.Cut(toComplete, "=")
		if !ok {
			var keys []string
			for _, k := range []string{"ancestor=", "before=", "exited=", "health=", "id=", "label=", "name=", "since=", "status="} {
				if strings.HasPrefix(k, toComplete) {
					keys = append(keys, k)
				}
			}
			return keys, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
		}
		var vals []string
		switch key {
		case "status":
			vals = []string{"created", "running", "exited", "stopped", "paused"}
		case "health":
			vals = []string{"starting", "healthy", "unhealthy"}
		case "name", "id", "before", "since":
			vals, _ = completeContainers(g)(cmd, args, val)
		case "ancestor":
			vals, _ = completeImages(g)(cmd, args, val)
		}
		var out []string
		for _, v := range vals {
			if strings.HasPrefix(v, val) {
				out = append(out, key+"="+v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
