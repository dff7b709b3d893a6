package stage

import (
	"context"
	"errors"
	"fmt"
	"github.com/rless/rless/pkg/userns"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
)

// UnshareStage is the stage name of Unshare's child.
const UnshareStage = "unshare"

// Unshare runs argv, a host command, inside a new user namespace with
// mapping m and a new mount namespace, as root of that namespace (as
// `podman unshare` does), and returns its exit status. SIGINT and SIGQUIT are
// left to the terminal, which sends them to the command too; SIGTERM, SIGHUP,
// SIGUSR1 and SIGUSR2 are forwarded.
//
// The child side is RunUnshareStage, reached through the program's re-exec
// hook.
func Unshare(ctx context.Context, h *userns.Host, m userns.Mapping, argv []string, env []string) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("unshare: no command")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Reset(syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	c, err := Spawn(ctx, SpawnOptions{
		Stage: UnshareStage, Args: argv, Env: env,
		Cloneflags: syscall.CLONE_NEWNS,
		Stdin:      os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Host: h, Mapping: m,
	})
	if err != nil {
		return 0, err
	}
	defer c.Sync.Close()
	if err := c.Wait(ctx, sigs, nil); c.Cmd.ProcessState == nil {
		return 0, fmt.Errorf("wait for %s: %w", argv[0], err)
	}
	return ExitCode(c.Cmd.ProcessState), nil
}

// RunUnshareStage is the child side of Unshare: it waits for the mapping and
// executes the command named in its arguments. It returns only on failure,
// with the exit status to use (126 or 127) and the error.
func RunUnshareStage() (int, error) {
	// The thread WaitMapped sets up is the one that executes.
	runtime.LockOSThread()
	conn, err := WaitMapped(nil)
	if err != nil {
		return 125, err
	}
	conn.Close()
	os.Unsetenv(StageEnv)
	argv := os.Args[1:]
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 127, fmt.Errorf("%s: command not found", argv[0])
	}
	err = syscall.Exec(path, argv, os.Environ())
	return 126, fmt.Errorf("execute %s: %w", argv[0], err)
}
