package main

import (
	"log/slog"
	"path/filepath"

	"github.com/rless/rless/internal/payload"
)

// stageProgram returns the program containers' first processes execute:
// rless-init, extracted once into the run root from the payload `make`
// appends to rless, or "" (rless itself, which runs the stage too, in more
// time) when this rless carries none or it cannot be extracted.
func stageProgram(runRoot string) string {
	path, err := payload.Extract(payload.Init, filepath.Join(runRoot, ".bin"))
	if err != nil {
		slog.Debug("container stage program not extracted, using rless itself", "err", err)
		return ""
	}
	return path
}
