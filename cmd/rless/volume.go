package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/rless/rless/pkg/engine"
	"github.com/spf13/cobra"
)

func newVolumeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage named volumes"}
	create := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a volume (a random name when none is given)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			v, err := e.CreateVolume(name)
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
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			vs, err := e.Volumes()
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
					vs = []engine.Volume{}
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
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			var out []engine.Volume
			for _, a := range args {
				v, err := e.Volume(a)
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
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			for _, a := range args {
				err := e.RemoveVolume(cmd.Context(), a, force)
				switch {
				case errors.Is(err, engine.ErrNoVolume):
					return codeError{1, err}
				case errors.Is(err, engine.ErrVolumeInUse):
					return codeError{2, err}
				case err != nil:
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
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			names, err := e.PruneVolumes(cmd.Context())
			for _, n := range names {
				fmt.Println(n)
			}
			return err
		},
	}
	prune.Flags().BoolP("force", "f", false, "do not ask (rless never asks)")
	cmd.AddCommand(create, ls, inspect, rm, prune)
	return cmd
}
