package main

import (
	"encoding/csv"
	"strings"

	"github.com/spf13/pflag"
)

// stringsValue is a repeatable string flag: pflag's stringArray (each use
// gives one value) or, with split, its stringSlice (each use gives a
// comma-separated list). It behaves as pflag's do but for the cost of
// defining it: pflag formats each such flag's default through a CSV writer
// with a 4 KB buffer of its own, and fresh memory, one slow page fault per
// 4 KB on these machines, was a tenth of the page faults of a start of
// rless.
type stringsValue struct {
	p       *[]string
	split   bool
	changed bool
}

// stringsVar defines a repeatable string flag on fs (no default); see
// stringsValue for split.
func stringsVar(fs *pflag.FlagSet, p *[]string, name, short, usage string, split bool) {
	fs.VarP(&stringsValue{p: p, split: split}, name, short, usage)
}

// Set adds val, or with split the comma-separated values of val, to the
// flag's values (replacing the default on the first use).
func (s *stringsValue) Set(val string) error {
	vals := []string{val}
	if s.split {
		if val == "" {
			vals = nil
		} else {
			var err error
			if vals, err = csv.NewReader(strings.NewReader(val)).Read(); err != nil {
				return err
			}
		}
	}
	if !s.changed {
		*s.p = vals
		s.changed = true
	} else {
		*s.p = append(*s.p, vals...)
	}
	return nil
}

// Type returns the name pflag's own type has (help shows stringSlice as
// "strings").
func (s *stringsValue) Type() string {
	if s.split {
		return "stringSlice"
	}
	return "stringArray"
}

// String returns the values in brackets, comma-separated; "" when there
// are none, so that help shows no default.
func (s *stringsValue) String() string {
	if len(*s.p) == 0 {
		return ""
	}
	return "[" + strings.Join(*s.p, ",") + "]"
}
