package container

import (
	"fmt"
	"github.com/rless/rless/internal/stage"
	"log/slog"
	"os"

	"github.com/rless/rless/internal/logging"
	"github.com/rless/rless/pkg/reexec"
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
	name := stage.Stage()
	if name == "" {
		return
	}
	logging.FromEnv()
	slog.Debug("stage start", "stage", name)
	switch name {
	case InitStage:
		os.Exit(containerInit())
	case AgentStage:
		os.Exit(runAgentProcess())
	case stage.NestStage:
		code, err := stage.RunNestStage()
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		}
		os.Exit(code)
	case reexec.Stage:
		reexec.Main()
	case stage.UnshareStage:
		code, err := stage.RunUnshareStage()
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(code)
	default:
		fmt.Fprintf(os.Stderr, "Error: unknown rless stage %q\n", name)
		os.Exit(ExitRlessFailed)
	}
}
