package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rless/rless/internal/busybox"
	"github.com/rless/rless/pkg/engine"
)

// The examples' root filesystem and run root, made by TestMain.
var exampleRootfs, exampleRunRoot string

func TestMain(m *testing.M) {
	// The containers' first process is the test binary, re-executed.
	engine.Init()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Getuid() == 0 && os.Getenv("RLESS_TEST_AS_ROOT") == "" {
		fmt.Fprintln(os.Stderr, "the engine's tests run containers rootless: run them as an unprivileged user (`make test` does this when run as root)")
		return 1
	}
	dir, err := os.MkdirTemp("", "rless-engine-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	exampleRootfs = filepath.Join(dir, "rootfs")
	exampleRunRoot = filepath.Join(dir, "run")
	if err := busybox.Rootfs(exampleRootfs, nil); err != nil {
		fmt.Fprintln(os.Stderr, "build rootfs:", err)
		return 1
	}
	return m.Run()
}
