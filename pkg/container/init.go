package container

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/rless/rless/internal/logging"
	"github.com/rless/rless/pkg/reexec"
	"github.com/rless/rless/pkg/userns"
)

// InitStage is the stage name of a container's first process.
const InitStage = "init"

// Init runs the stage this process was re-executed for, if any, and then
// exits; in a process that is not a re-executed rless child it returns at
// once. Call it first thing in main of every program that uses rless as a
// library:
//
//	func main() {
//		container.Init()
//		...
//	}
func Init() {
	stage := userns.Stage()
	if stage == "" {
		return
	}
	logging.FromEnv()
	slog.Debug("stage start", "stage", stage)
	switch stage {
	case InitStage:
		os.Exit(containerInit())
	case userns.NestStage:
		code, err := userns.RunNestStage()
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		}
		os.Exit(code)
	case reexec.Stage:
		reexec.Main()
	case userns.UnshareStage:
		code, err := userns.RunUnshareStage()
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(code)
	default:
		fmt.Fprintf(os.Stderr, "Error: unknown rless stage %q\n", stage)
		os.Exit(ExitRlessFailed)
	}
}
