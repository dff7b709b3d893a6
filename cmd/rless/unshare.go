package main

import (
	"os"

	"github.com/spf13/cobra"
)

func newUnshareCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unshare [COMMAND [ARG...]]",
		Short: "Run a host command inside the user namespace containers use",
		Long: `Run a host command (default: $SHELL) in a new user and mount namespace with
the same id mapping as containers: you are root there, and the files that
belong to your subordinate ids on the host belong to the ids 1..N there, so
you can inspect and remove what containers wrote. RLESS_ROOT and
RLESS_RUNROOT tell the command where the store is.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				sh := os.Getenv("SHELL")
				if sh == "" {
					sh = "/bin/sh"
				}
				args = []string{sh}
			}
			env := append(os.Environ(), "RLESS_ROOT="+g.root, "RLESS_RUNROOT="+g.runRoot)
			code, err := e.Unshare(cmd.Context(), args, env)
			if err != nil || code == 0 {
				return err
			}
			return exitError{code}
		},
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}
