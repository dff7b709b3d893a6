//go:build rless_lean && !rless_netin

package engine

import (
	"errors"
	"path/filepath"

	"github.com/rless/rless/internal/payload"
	"github.com/rless/rless/pkg/container"
)

// In rless's lean front, which serves the built-in network from a stack
// process per container, the supervisor runs in the program appended to
// it (cmd/rless-supervisor), which serves its containers' networks in
// process: a goroutine each rather than a process. Built without it, the
// supervisor runs in the lean front.
func init() {
	supervisorProgram = func() (string, error) {
		path, err := payload.Extract(payload.Monitor, filepath.Join(container.DefaultRunRoot(), ".bin"))
		if errors.Is(err, payload.ErrNone) {
			return "", nil
		}
		return path, err
	}
}
