package proc

import (
	"os"
	"slices"
	"strconv"
)

// Stat is what /proc/PID/stat says of a process that listings use.
type Stat struct {
	PPid  int
	TTY   int    // tty_nr: the controlling terminal's device number, 0 for none
	CPU   uint64 // user and system time, in clock ticks
	Start uint64 // start time, in clock ticks since boot
}

// Table reads /proc/PID/stat of every process of the host; processes that
// end meanwhile are left out.
func Table() (map[int]Stat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	table := make(map[int]Stat, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f, err := statFields(data)
		if err != nil {
			continue
		}
		var s Stat
		s.PPid, _ = strconv.Atoi(f[1])
		s.TTY, _ = strconv.Atoi(f[4])
		user, _ := strconv.ParseUint(f[11], 10, 64)
		system, _ := strconv.ParseUint(f[12], 10, 64)
		s.CPU = user + system
		s.Start, _ = strconv.ParseUint(f[19], 10, 64)
		table[pid] = s
	}
	return table, nil
}

// Descendants returns pid and every process of table descended from it,
// in pid order; none when table has no pid.
func Descendants(table map[int]Stat, pid int) []int {
	if _, ok := table[pid]; !ok {
		return []int{}
	}
	children := map[int][]int{}
	for p, s := range table {
		children[s.PPid] = append(children[s.PPid], p)
	}
	out := []int{}
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	slices.Sort(out)
	return out
}
