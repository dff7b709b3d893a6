// Package logging configures log/slog for rless and its re-executed
// children: text lines on stderr with microsecond times and the process id,
// so that the steps of one container start can be followed across processes.
package logging

import (
	"log/slog"
	"os"
	"strconv"
)

// Env carries the log level from rless into the processes it re-executes.
const Env = "_RLESS_LOG_LEVEL"

// Setup makes the default slog logger print records at level and above to
// stderr, and exports the level in Env for child processes.
func Setup(level slog.Level) {
	pid := strconv.Itoa(os.Getpid())
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				a.Value = slog.StringValue(a.Value.Time().Format("15:04:05.000000"))
			}
			return a
		},
	})
	slog.SetDefault(slog.New(h).With("pid", pid))
	os.Setenv(Env, level.String())
}

// FromEnv sets up logging from Env, if it is set (in a child process).
func FromEnv() {
	var l slog.Level
	if v := os.Getenv(Env); v != "" && l.UnmarshalText([]byte(v)) == nil {
		Setup(l)
	}
}
