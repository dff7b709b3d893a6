package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/template"

	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
)

func newInfoCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show what this host offers rless",
		Long: `Show what this host offers rless: the user's subordinate id ranges and the
newuidmap/newgidmap helpers, the kernel features rless uses, the optional
helper programs found on PATH, the network modes, and the store paths.

--format json prints JSON; any other value is a Go template applied to the
same structure (for example --format '{{.Host.Kernel}}').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			info, err := e.Info(cmd.Context())
			if err != nil {
				return err
			}
			switch format {
			case "":
				return printInfo(os.Stdout, info)
			case "json":
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			default:
				t, err := template.New("format").Parse(format)
				if err != nil {
					return fmt.Errorf("--format: %w", err)
				}
				if err := t.Execute(os.Stdout, info); err != nil {
					return fmt.Errorf("--format: %w", err)
				}
				fmt.Println()
				return nil
			}
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "output format: json or a Go template")
	return cmd
}

func printInfo(w io.Writer, i *engine.Info) error {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	orNone := func(s string) string {
		if s == "" {
			return "not found"
		}
		return s
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("host:")
	p("  os: %s/%s", i.Host.OS, i.Host.Arch)
	p("  kernel: %s", i.Host.Kernel)
	p("  hostname: %s", i.Host.Hostname)
	p("  cpus: %d", i.Host.CPUs)
	p("user:")
	p("  name: %s", i.IDs.User)
	p("  uid: %d", i.IDs.UID)
	p("  gid: %d", i.IDs.GID)
	p("  subuids: %s", ranges(i.IDs.SubUIDs))
	p("  subgids: %s", ranges(i.IDs.SubGIDs))
	p("  newuidmap: %s", orNone(i.IDs.NewUIDMap))
	p("  newgidmap: %s", orNone(i.IDs.NewGIDMap))
	if i.Fallback != "" {
		p("  mapping: single (%s)", i.Fallback)
	} else {
		p("  mapping: full (container 0 = uid %d, 1.. = subordinate ranges)", i.IDs.UID)
	}
	p("kernel:")
	p("  unprivileged user namespaces: %s (max %d)", yes(i.Kernel.UnprivilegedUserns), i.Kernel.MaxUserNamespaces)
	if i.Kernel.UsernsBlocked != "" {
		p("  WARNING: %s", i.Kernel.UsernsBlocked)
	}
	p("  openat2: %s", yes(i.Kernel.Openat2))
	p("  mount_setattr: %s", yes(i.Kernel.MountSetattr))
	p("  overlayfs in user namespace: %s", yes(i.Kernel.OverlayInUserns))
	p("  cgroups: %s", i.Kernel.Cgroups)
	p("  /dev/fuse usable: %s", yes(i.Kernel.FuseDevice))
	p("  /dev/net/tun usable: %s", yes(i.Kernel.TunDevice))
	p("helpers:")
	names := make([]string, 0, len(i.Helpers))
	for n := range i.Helpers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p("  %s: %s", n, orNone(i.Helpers[n]))
	}
	p("network modes: %s", strings.Join(i.Network, ", "))
	p("limits:")
	for _, n := range []string{"pids", "ulimit", "memory", "cpus"} {
		p("  %s: %s", n, i.Limits[n])
	}
	p("store:")
	p("  root: %s", i.Store.Root)
	p("  runroot: %s", i.Store.RunRoot)
	if d := i.Store.Overlay; d != nil {
		switch d.Driver {
		case engine.OverlayNative:
			p("  overlay driver: native (kernel overlayfs in the user namespace)")
		case engine.OverlayFuse:
			p("  overlay driver: fuse (%s; native overlay refused: %s)", d.Program, d.Reason)
		default:
			p("  overlay driver: copy (native overlay and FUSE refused: %s)", d.Reason)
		}
	} else {
		p("  overlay driver: unknown (the probe failed)")
	}
	return nil
}

func ranges(rs []engine.IDRange) string {
	if len(rs) == 0 {
		return "none"
	}
	parts := make([]string, len(rs))
	for k, r := range rs {
		parts[k] = fmt.Sprintf("%d-%d", r.Start, r.Start+r.Count-1)
	}
	return strings.Join(parts, ", ")
}
