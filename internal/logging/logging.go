// Package logging configures log/slog for rless and its re-executed
// children: text lines on stderr with microsecond times and the process id,
// so that the steps of one container start can be followed across processes.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
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

// Plain makes the default slog logger print warnings and errors to stderr
// as rless prints them to its users ("WARN: message key=value"), and drop
// the rest: for a helper process whose user asked for no log level.
func Plain() {
	slog.SetDefault(slog.New(plainHandler{}))
}

// plainHandler writes records of level Warn and above as "LEVEL: message"
// with their attributes.
type plainHandler struct{ attrs []slog.Attr }

func (plainHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h plainHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteString(": ")
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	_, err := io.WriteString(os.Stderr, b.String())
	return err
}

func (h plainHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return plainHandler{attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h plainHandler) WithGroup(string) slog.Handler { return h }
