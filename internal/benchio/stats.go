package benchio

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Median returns the median of v: its middle value when len(v) is odd, the
// mean of its two middle values when it is even. v need not be sorted and
// is not changed (Median sorts a copy). It panics if v is empty.
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	k := len(s)
	if k%2 == 1 {
		return s[k/2]
	}
	return (s[k/2-1] + s[k/2]) / 2
}

// Percentile returns the nearest-rank p-th percentile of v: the smallest
// value of v that at least p percent of v is less than or equal to, that
// is the ceil(p/100*len(v))-th smallest. It is always one of v's values:
// Percentile(v, 50) is the lower of the two middle values when len(v) is
// even, not Median's mean of them. v need not be sorted and is not changed
// (Percentile sorts a copy). It panics if v is empty or p is not in
// (0, 100].
func Percentile[E cmp.Ordered](v []E, p float64) E {
	if len(v) == 0 || !(p > 0 && p <= 100) {
		panic(fmt.Sprintf("benchio.Percentile: %d values, p %v", len(v), p))
	}
	s := slices.Clone(v)
	slices.Sort(s)
	// p*n is exact for the p and n in use, so that a rank that is a whole
	// number is not rounded up past it.
	rank := int(math.Ceil(p * float64(len(s)) / 100))
	return s[min(max(rank, 1), len(s))-1]
}

// FirstLine returns s up to its first newline (all of s when it has
// none).
func FirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Select returns the names in list, a comma-separated list of some of
// names (spaces around each ignored), in the order of names and each once.
// An empty list selects all of names. It fails when list holds a name not
// in names, or selects none.
func Select(list string, names []string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return slices.Clone(names), nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("unknown name %q (known: %s)", name, strings.Join(names, ", "))
		}
		want[name] = true
	}
	if len(want) == 0 {
		return nil, errors.New("selects nothing")
	}
	var out []string
	for _, name := range names {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}
