// Package logfile writes and reads a container's log in the k8s-file
// format of podman and conmon.
//
// A log file is a sequence of entries, one per line:
//
//	<timestamp> <stream> <tag> <text>
//
// The timestamp is when the output was received, in the layout TimeFormat
// (RFC 3339 with nanoseconds and the local zone's offset, as conmon writes
// it; a reader also accepts "Z" and shorter fractions). The stream is
// "stdout" or "stderr". The tag is "F" when the entry ends a line of the
// program's output and "P" when it is a partial line: a piece of output
// whose newline has not come yet, continued by the following entries of
// the same stream up to one tagged F. The text is the output without its
// newline.
//
// A Writer turns what a program writes into entries (see Create), and Read
// prints them back as the program wrote them, like `podman logs`.
package logfile

import "time"

// Stream names, as they appear in a log entry and as Writer.Stream takes
// them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// TimeFormat is the layout (see time.Layout) of the timestamps a Writer
// writes and Read prints with ReadOptions.Timestamps: RFC 3339 with
// exactly nine digits of nanoseconds and a numeric zone offset, e.g.
// 2026-12-05T14:30:01.123456789+01:00.
const TimeFormat = "2006-01-02T15:04:05.000000000-07:00"

// MaxText is the most text a Writer puts in one entry: longer lines are
// written as several partial (P) entries of MaxText bytes each and a final
// full (F) one.
const MaxText = 16 * 1024

// PartialDelay is how long a Writer holds a piece of output that is not
// yet ended by a newline, waiting for the rest, before it writes the piece
// as a partial (P) entry.
const PartialDelay = 100 * time.Millisecond

// PollInterval is how often Read, following a log, looks for new entries.
const PollInterval = 50 * time.Millisecond
