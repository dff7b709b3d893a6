package main

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

// TestStringsVar checks stringsVar against pflag's StringArrayVar and
// StringSliceVar, whose behaviour it keeps.
func TestStringsVar(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--x", "a"},
		{"--x", "a,b", "--x", "c", "-y", `"d,e",f`},
		{"--x", "", "-y", ""},
	} {
		var mine, theirs struct{ x, y []string }
		fs1 := pflag.NewFlagSet("mine", pflag.ContinueOnError)
		stringsVar(fs1, &mine.x, "x", "", "", false)
		stringsVar(fs1, &mine.y, "yy", "y", "", true)
		fs2 := pflag.NewFlagSet("pflag", pflag.ContinueOnError)
		fs2.StringArrayVar(&theirs.x, "x", nil, "")
		fs2.StringSliceVarP(&theirs.y, "yy", "y", nil, "")
		if err := fs1.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := fs2.Parse(args); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(mine.x, theirs.x) || !slices.Equal(mine.y, theirs.y) {
			t.Errorf("%q: stringsVar gives %q %q, pflag %q %q", args, mine.x, mine.y, theirs.x, theirs.y)
		}
		for _, name := range []string{"x", "yy"} {
			if a, b := fs1.Lookup(name).Value.Type(), fs2.Lookup(name).Value.Type(); a != b {
				t.Errorf("--%s: type %q, pflag's %q", name, a, b)
			}
		}
	}
	fs := pflag.NewFlagSet("bad", pflag.ContinueOnError)
	var v []string
	stringsVar(fs, &v, "y", "", "", true)
	if err := fs.Parse([]string{"--y", `"a`}); err == nil {
		t.Error("no error for a broken comma-separated list")
	}
}
