package logfile

import (
	"bytes"
	"time"
)

// streamNames are the stream names by index: 0 for stdout, 1 for stderr.
var streamNames = [2]string{Stdout, Stderr}

// streamIndex returns the index of a stream name, or -1.
func streamIndex(name []byte) int {
	for i, n := range streamNames {
		if string(name) == n {
			return i
		}
	}
	return -1
}

// entry is one parsed line of a log file.
type entry struct {
	ts     time.Time
	stream int    // index in streamNames
	full   bool   // tag F: the text ends a line
	text   []byte // aliases the line it was parsed from
}

// parseEntry parses a line of a log file, without its newline. It reports
// false for a line that is not an entry.
func parseEntry(line []byte) (entry, bool) {
	var p parser
	return p.parse(line)
}

// parser parses the lines of a log file. It remembers the last timestamp
// it parsed: the entries of one write share theirs.
type parser struct {
	raw []byte
	ts  time.Time
}

// parse parses a line of a log file, without its newline. It reports
// false for a line that is not an entry.
func (p *parser) parse(line []byte) (entry, bool) {
	var e entry
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, false
	}
	name, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return e, false
	}
	if e.stream = streamIndex(name); e.stream < 0 {
		return e, false
	}
	// The tag is followed by a space and the text; conmon writes the
	// space even when the text is empty, but be lenient.
	tag, text, _ := bytes.Cut(rest, []byte{' '})
	switch string(tag) {
	case "F":
		e.full = true
	case "P":
	default:
		return e, false
	}
	if !bytes.Equal(ts, p.raw) || p.raw == nil {
		t, err := time.Parse(time.RFC3339Nano, string(ts))
		if err != nil {
			return e, false
		}
		p.raw, p.ts = append(p.raw[:0], ts...), t
	}
	e.ts, e.text = p.ts, text
	return e, true
}
