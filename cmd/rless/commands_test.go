package main

import (
	"slices"
	"sort"
	"testing"

	"github.com/spf13/cobra"
)

// TestTopCommands checks topCommands against the commands its
// constructors build: every name a built command answers to is listed
// with the constructor that builds it, and only those.
func TestTopCommands(t *testing.T) {
	g := &globals{}
	full := &cobra.Command{Use: "rless"}
	addTopCommands(full, g, nil)
	var built, listed []string
	for _, c := range full.Commands() {
		built = append(built, c.Name())
		built = append(built, c.Aliases...)
	}
	for _, tc := range topCommands {
		listed = append(listed, tc.names...)
	}
	sort.Strings(built)
	sort.Strings(listed)
	if !slices.Equal(built, listed) {
		t.Fatalf("topCommands lists %v, its constructors build %v", listed, built)
	}
	for _, name := range listed {
		root := &cobra.Command{Use: "rless"}
		addTopCommands(root, g, []string{"--root", "/x", name, "--help"})
		c, _, err := root.Find([]string{name})
		if err != nil || c == root {
			t.Errorf("%s: not built for its own call (%v)", name, err)
		}
		if n := len(root.Commands()); n > 5 {
			t.Errorf("%s: %d commands built for its call", name, n)
		}
	}
}

func TestCommandName(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"ps", "-a"}, "ps"},
		{[]string{"--root", "/r", "--runroot=/rr", "--log-level", "debug", "run", "x"}, "run"},
		{[]string{"--storage-opt", "a=b", "--storage-driver", "vfs", "images"}, "images"},
		{[]string{"--help"}, ""},
		{[]string{"--version"}, ""},
		{[]string{"help", "ps"}, "help"},
	} {
		if got := commandName(c.args); got != c.want {
			t.Errorf("commandName(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
