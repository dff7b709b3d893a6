//go:build rless_lean

package engine

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/rless/rless/internal/payload"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/reexec"
)

// Built with the tag rless_lean (as the rless command's main program is),
// the engine does not link containers/image, whose initialisation costs
// every process that links it milliseconds: its image functions run in
// the image engine appended to the program (see hack/build.sh).
var (
	pullFunc  = reexec.Declare[pullArgs, string]("image.pull")
	saveFunc  = reexec.Declare[pullArgs, struct{}]("image.save")
	loadFunc  = reexec.Declare[pullArgs, []string]("image.load")
	checkFunc = reexec.Declare[checkArgs, CheckReport]("image.check")
)

func init() {
	reexec.Fallback = func() (string, error) {
		path, err := payload.Extract(payload.Engine, filepath.Join(container.DefaultRunRoot(), ".bin"))
		if errors.Is(err, payload.ErrNone) {
			return "", errors.New("this rless was built without its image engine: build it with `make`")
		}
		if err != nil {
			return "", fmt.Errorf("the image engine: %w", err)
		}
		return path, nil
	}
}

var (
	loginFunc     = reexec.Declare[loginArgs, struct{}]("image.login")
	loginNameFunc = reexec.Declare[loginArgs, string]("image.login-name")
	logoutFunc    = reexec.Declare[loginArgs, struct{}]("image.logout")
)
