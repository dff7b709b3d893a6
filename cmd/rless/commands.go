package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// A topCommand is one top-level command, or a few built together, with
// the names that call it.
type topCommand struct {
	names []string
	build func(g *globals) []*cobra.Command
}

// one adapts a constructor of one command to topCommand.build.
func one(f func(g *globals) *cobra.Command) func(*globals) []*cobra.Command {
	return func(g *globals) []*cobra.Command { return []*cobra.Command{f(g)} }
}

// topCommands lists every top-level command. A call builds only the one
// it runs (commandName): building all of them with their flags took about
// a sixth of a short command's start.
var topCommands = []topCommand{
	{[]string{"run"}, one(newRunCmd)},
	{[]string{"unshare"}, one(newUnshareCmd)},
	{[]string{"info"}, one(newInfoCmd)},
	{[]string{"images"}, one(func(g *globals) *cobra.Command { return newImagesCmd(g, "images") })},
	{[]string{"rmi"}, one(func(g *globals) *cobra.Command { return newRmiCmd(g, "rmi") })},
	{[]string{"tag"}, one(newTagCmd)},
	{[]string{"image"}, one(newImageCmd)},
	{[]string{"system"}, one(newSystemCmd)},
	{[]string{"volume"}, one(newVolumeCmd)},
	{[]string{"port"}, one(newPortCmd)},
	{[]string{"pull", "save", "load", "login", "logout"}, func(g *globals) []*cobra.Command { return engineCommands(g, false) }},
	{[]string{"create"}, one(newCreateCmd)},
	{[]string{"start"}, one(newStartCmd)},
	{[]string{"stop"}, one(newStopCmd)},
	{[]string{"kill"}, one(newKillCmd)},
	{[]string{"rm"}, one(newRmCmd)},
	{[]string{"wait"}, one(newWaitCmd)},
	{[]string{"restart"}, one(newRestartCmd)},
	{[]string{"logs"}, one(newLogsCmd)},
	{[]string{"exec"}, one(newExecCmd)},
	{[]string{"attach"}, one(newAttachCmd)},
	{[]string{"rename"}, one(newRenameCmd)},
	{[]string{"pause"}, one(func(g *globals) *cobra.Command { return newPauseCmd(g, true) })},
	{[]string{"unpause"}, one(func(g *globals) *cobra.Command { return newPauseCmd(g, false) })},
	{[]string{"top"}, one(newTopCmd)},
	{[]string{"cp"}, one(newCpCmd)},
	{[]string{"healthcheck"}, one(newHealthcheckCmd)},
	{[]string{"ps"}, one(func(g *globals) *cobra.Command { return newPsCmd(g, "ps") })},
	{[]string{"completion"}, one(func(*globals) *cobra.Command { return newCompletionCmd() })},
	{[]string{"version"}, one(func(*globals) *cobra.Command { return newVersionCmd() })},
	{[]string{"inspect"}, one(newTopInspectCmd)},
	{[]string{"oci"}, one(func(*globals) *cobra.Command { return newOCICmd() })},
	{[]string{"sandbox"}, one(newSandboxCmd)},
	{[]string{"container"}, one(func(g *globals) *cobra.Command {
		return newContainerCmd(g, append(containerCommands(g), newContainerPruneCmd(g), newContainerInspectCmd(g))...)
	})},
}

// addTopCommands adds to root the top-level command that args call, or
// all of them when args call none by name (help, completion requests, a
// mistyped name: those need the whole tree).
func addTopCommands(root *cobra.Command, g *globals, args []string) {
	name := commandName(args)
	for _, c := range topCommands {
		for _, n := range c.names {
			if n == name {
				root.AddCommand(c.build(g)...)
				return
			}
		}
	}
	for _, c := range topCommands {
		root.AddCommand(c.build(g)...)
	}
}

// rootValueFlags are the root's flags that take a value.
var rootValueFlags = []string{"--log-level", "--root", "--runroot", "--storage-driver", "--storage-opt"}

// commandName returns the first argument of args that is not a root flag
// or a root flag's value: the name of the command args call ("" if none).
func commandName(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a
		}
		if strings.Contains(a, "=") {
			continue
		}
		for _, f := range rootValueFlags {
			if a == f {
				i++
				break
			}
		}
	}
	return ""
}
