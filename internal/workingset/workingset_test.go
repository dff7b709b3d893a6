package workingset

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile is this process's resident pages mapped from files, in kB
// (RssFile in /proc/self/status).
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestProgram(t *testing.T) {
	rs, err := Program()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		t.Fatal("no read-only segment")
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	// Each range lies in a mapping that is neither writable nor anonymous.
	for _, r := range rs {
		found := false
		for _, l := range strings.Split(string(maps), "\n") {
			f := strings.Fields(l)
			if len(f) < 6 {
				continue
			}
			lo, hi, _ := strings.Cut(f[0], "-")
			a, _ := strconv.ParseUint(lo, 16, 64)
			b, _ := strconv.ParseUint(hi, 16, 64)
			if uint64(r.Start) >= a && uint64(r.End) <= b {
				found = true
				if strings.Contains(f[1], "w") {
					t.Errorf("range %#x-%#x lies in a writable mapping: %s", r.Start, r.End, l)
				}
			}
		}
		if !found {
			t.Errorf("range %#x-%#x lies in no single file mapping of the program", r.Start, r.End)
		}
	}
}

func TestTrim(t *testing.T) {
	before := rssFile(t)
	if err := Trim(); err != nil {
		t.Fatal(err)
	}
	// The test goes on running from pages mapped again.
	after := rssFile(t)
	t.Logf("RssFile %d kB before, %d kB after", before, after)
	if after >= before {
		t.Errorf("RssFile %d kB after Trim, %d kB before", after, before)
	}
}
