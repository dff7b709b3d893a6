package userns

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// A child created in a new user namespace executes before the parent can
// map its ids, so it holds no capabilities until it executes once more,
// mapped. Where rless carries stage0 (a static program of a few hundred
// bytes, see hack/stage0), the child's first program is stage0 rather than
// rless itself: it waits for the "uid mapped" message and executes rless,
// so no Go runtime starts only to wait, competing for the CPU with the
// mapping helpers. Elsewhere rless re-executes itself (WaitMapped).

// Descriptors of a child started through stage0, after SyncFD.
const (
	stage0ExeFD  = SyncFD + 1 // the rless binary, executed by stage0
	stage0SelfFD = SyncFD + 2 // stage0 itself (a memfd)
	stage0Env    = "_RLESS_STAGE0"
)

// stage0Files returns the rless binary and a sealed memfd holding stage0,
// to pass to a child as descriptors 4 and 5; ok is false when this
// architecture has no stage0 or the files cannot be made.
func stage0Files() (exe, prog *os.File, err error) {
	if len(stage0) == 0 {
		return nil, nil, nil
	}
	// MFD_EXEC: where vm.memfd_noexec makes memfds non-executable by
	// default (Linux 6.3 and later); older kernels refuse the flag.
	fd, err := unix.MemfdCreate("rless-stage0", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("rless-stage0", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("memfd for stage0: %w", err)
	}
	prog = os.NewFile(uintptr(fd), "rless-stage0")
	if _, err := prog.Write(stage0); err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("write stage0: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(prog.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("seal stage0: %w", err)
	}
	exe, err = os.Open("/proc/self/exe")
	if err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("open own executable: %w", err)
	}
	return exe, prog, nil
}

// closeStage0Files closes, in the rless started by stage0, the descriptors
// stage0 inherited, so that the container's command does not.
func closeStage0Files() {
	if os.Getenv(stage0Env) == "" {
		return
	}
	os.Unsetenv(stage0Env)
	unix.Close(stage0ExeFD)
	unix.Close(stage0SelfFD)
}
