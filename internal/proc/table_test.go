package proc

import (
	"os"
	"slices"
	"testing"
)

func TestDescendants(t *testing.T) {
	table := map[int]Stat{1: {}, 10: {PPid: 1}, 11: {PPid: 10}, 12: {PPid: 11}, 20: {PPid: 1}, 13: {PPid: 10}}
	if got := Descendants(table, 10); !slices.Equal(got, []int{10, 11, 12, 13}) {
		t.Errorf("Descendants(10) = %v", got)
	}
	if got := Descendants(table, 99); len(got) != 0 {
		t.Errorf("Descendants of a missing pid = %v", got)
	}
}

func TestTable(t *testing.T) {
	table, err := Table()
	if err != nil {
		t.Fatal(err)
	}
	self, ok := table[os.Getpid()]
	if !ok || self.PPid != os.Getppid() || self.Start == 0 {
		t.Errorf("this process: %+v (found %v)", self, ok)
	}
	if start, _ := StartTime(os.Getpid()); start != self.Start {
		t.Errorf("start %d, StartTime %d", self.Start, start)
	}
}
