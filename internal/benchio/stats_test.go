package benchio

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1}, 2},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		v := slices.Clone(c.v)
		if got := Median(v); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.v, got, c.want)
		}
		if !slices.Equal(v, c.v) {
			t.Errorf("Median changed its argument: %v, was %v", v, c.v)
		}
	}
}

func TestPercentile(t *testing.T) {
	v := []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	for _, c := range []struct {
		p    float64
		want int
	}{
		{1, 1}, {10, 1}, {11, 2}, {50, 5}, {90, 9}, {91, 10}, {99, 10}, {100, 10},
	} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("Percentile(1..10, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if v[0] != 10 {
		t.Errorf("Percentile changed its argument: %v", v)
	}
	if got := Percentile([]time.Duration{3, 1, 2}, 50); got != 2 {
		t.Errorf("Percentile of durations = %v, want 2", got)
	}
}

// TestPercentileRanks checks the rank Percentile picks against the
// formulas the benchmarks used before they shared it.
func TestPercentileRanks(t *testing.T) {
	for n := 1; n <= 4000; n++ {
		v := make([]int, n)
		for i := range v {
			v[i] = i
		}
		for _, c := range []struct {
			p    float64
			want int
		}{
			{50, (n - 1) / 2},                        // pingpong p50
			{99, (n*99+99)/100 - 1},                  // pingpong p99
			{90, int(math.Ceil(0.9*float64(n))) - 1}, // startup p90
		} {
			if got := Percentile(v, c.p); got != c.want {
				t.Fatalf("Percentile(0..%d, %v) = %d, want %d", n-1, c.p, got, c.want)
			}
		}
	}
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", "a\nb\n": "a", "\na": ""} {
		if got := FirstLine(in); got != want {
			t.Errorf("FirstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSelect(t *testing.T) {
	names := []string{"a", "b", "c"}
	for _, c := range []struct {
		list string
		want []string
		err  string
	}{
		{"", names, ""},
		{"  ", names, ""},
		{"c,a", []string{"a", "c"}, ""},
		{" b , b,", []string{"b"}, ""},
		{"a,d", nil, `unknown name "d" (known: a, b, c)`},
		{",", nil, "selects nothing"},
	} {
		got, err := Select(c.list, names)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Select(%q): error %v, want %q", c.list, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Select(%q) = %q, %v; want %q", c.list, got, err, c.want)
		}
	}
}
