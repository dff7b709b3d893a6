package logfile

import "os"

// tailStart finds where in f[0:end] its last n lines begin: the lines as
// Read prints them, each placed where its last entry is (a full entry, or
// the last entry of its stream, partial). It returns that offset and the
// offsets of the entries after it that are the last of lines not among
// the last n: Read, reading from start, drops these lines.
func tailStart(f *os.File, end int64, n int) (start int64, drop map[int64]bool, err error) {
	start = end
	if n == 0 {
		return start, nil, nil
	}
	var (
		count int
		seen  [2]bool // an entry of the stream was seen
		open  [2]bool // earlier partial entries of the stream belong to a counted line
		later []int64 // entries that end lines not counted
		parse parser
	)
	first := true
	err = scanBack(f, end, func(off int64, line []byte) bool {
		if first {
			// After the last newline: no entry yet.
			first = false
			return true
		}
		e, ok := parse.parse(line)
		if !ok {
			return true
		}
		s := e.stream
		last := !seen[s]
		seen[s] = true
		switch {
		case e.full || last:
			// The end of a line, and of the one before in the stream.
			if count < n {
				count++
				open[s], start = true, off
			} else {
				open[s] = false
				later = append(later, off)
			}
		case open[s]:
			start = off
		}
		return count < n || open[0] || open[1]
	})
	if err != nil {
		return 0, nil, err
	}
	for _, off := range later {
		if off > start {
			if drop == nil {
				drop = make(map[int64]bool)
			}
			drop[off] = true
		}
	}
	return start, drop, nil
}
