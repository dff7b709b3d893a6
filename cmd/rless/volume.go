package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/store"
	"github.com/rless/rless/pkg/userns"
	"github.com/spf13/cobra"
)

// resolveVolumes turns the named-volume mounts of -v and --mount into bind
// mounts of the volumes' directories, creating volumes that do not exist
// yet (as podman does). s may be nil: the store is then opened if needed.
func resolveVolumes(g *globals, s *store.Store, mounts []specs.Mount) ([]specs.Mount, error) {
	for i, m := range mounts {
		if m.Type != spec.VolumeMount {
			continue
		}
		if s == nil {
			var err error
			if s, err = openStore(g); err != nil {
				return nil, err
			}
		}
		v, err := s.Volume(m.Source)
		if errors.Is(err, store.ErrNoVolume) {
			v, err = s.CreateVolume(m.Source)
			if errors.Is(err, store.ErrVolumeExists) { // made meanwhile
				v, err = s.Volume(m.Source)
			}
		}
		if err != nil {
			return nil, err
		}
		mounts[i].Type, mounts[i].Source = "bind", v.Mountpoint
	}
	return mounts, nil
}

// chownMounts gives the sources of the mounts with the U option to the
// container's user (inside the user namespace, where its ids exist) and
// drops the option.
func chownMounts(cmd *cobra.Command, host *userns.Host, mapping userns.Mapping, user specs.User, mounts []specs.Mount) ([]specs.Mount, error) {
	for i, m := range mounts {
		if !slices.Contains(m.Options, spec.ChownOption) {
			continue
		}
		mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == spec.ChownOption })
		owner := fmt.Sprintf("%d:%d", user.UID, user.GID)
		code, err := userns.Unshare(cmd.Context(), host, mapping, []string{"chown", "-R", owner, m.Source}, os.Environ())
		if err == nil && code != 0 {
			err = fmt.Errorf("chown -R %s %s: exit %d", owner, m.Source, code)
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s with U: %w", m.Source, err)
		}
	}
	return mounts, nil
}

func newVolumeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage named volumes"}
	create := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a volume (a random name when none is given)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			v, err := s.CreateVolume(name)
			if err != nil {
				return err
			}
			fmt.Println(v.Name)
			return nil
		},
	}
	var quiet bool
	var format string
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			vs, err := s.Volumes()
			if err != nil {
				return err
			}
			switch {
			case quiet:
				for _, v := range vs {
					fmt.Println(v.Name)
				}
				return nil
			case format == "json":
				if vs == nil {
					vs = []store.Volume{}
				}
				return printJSON(vs)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\n", v.Driver, v.Name)
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "print volume names only")
	ls.Flags().StringVar(&format, "format", "", "json")
	inspect := &cobra.Command{
		Use:   "inspect NAME [NAME...]",
		Short: "Show volumes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(g)
			if err != nil {
				return err
			}
			var out []store.Volume
			for _, a := range args {
				v, err := s.Volume(a)
				if err != nil {
					return err
				}
				out = append(out, v)
			}
			return printJSON(out)
		},
	}
	var force bool
	rm := &cobra.Command{
		Use:   "rm [flags] NAME [NAME...]",
		Short: "Remove volumes and their content",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := storeInUserNS(cmd, g)
			if done || err != nil {
				return err
			}
			for _, a := range args {
				v, err := s.Volume(a)
				if err != nil {
					return codeError{1, err}
				}
				if container.MountsPath(g.runRoot, v.Mountpoint) && !force {
					return codeError{2, fmt.Errorf("volume %s is in use by a container", a)}
				}
				if err := s.RemoveVolume(a); err != nil {
					return err
				}
				fmt.Println(a)
			}
			return nil
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "remove volumes even when a container uses them")
	prune := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove the volumes no container uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := storeInUserNS(cmd, g)
			if done || err != nil {
				return err
			}
			vs, err := s.Volumes()
			if err != nil {
				return err
			}
			for _, v := range vs {
				if container.MountsPath(g.runRoot, v.Mountpoint) {
					continue
				}
				if err := s.RemoveVolume(v.Name); err != nil {
					return err
				}
				fmt.Println(v.Name)
			}
			return nil
		},
	}
	prune.Flags().BoolP("force", "f", false, "do not ask (rless never asks)")
	cmd.AddCommand(create, ls, inspect, rm, prune)
	return cmd
}
