package stage

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/rless/rless/pkg/userns"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/syncmsg"
)

// A layout in which the caller's id is not container root (podman's
// keep-id) cannot be written for a child in one step: the child would
// start as a non-root id there, without capabilities. So such a child is
// made in two: Start creates a user namespace of the default layout (the
// caller is root) running NestStage, which, as root there, creates the
// wanted namespace inside it, writes its layout itself, becomes its root
// and executes the real stage. NestStage stays as the real stage's
// parent, forwarding signals and passing its exit status on.

// NestStage is the stage name of the outer process of a nested layout.
const NestStage = "nest"

// Environment of NestStage: the real stage, its clone flags and the
// nested layout relative to the outer namespace, as JSON.
const (
	nestStageEnv = "_RLESS_NEST_STAGE"
	nestFlagsEnv = "_RLESS_NEST_FLAGS"
	nestMapEnv   = "_RLESS_NEST_MAP"
)

// Relative expresses inner, a layout in host ids, in the ids of the
// namespace of layout outer, for a namespace made inside it. Each range of
// inner must lie in one range of outer.
func Relative(inner, outer []specs.LinuxIDMapping) ([]specs.LinuxIDMapping, error) {
	out := make([]specs.LinuxIDMapping, 0, len(inner))
	for _, m := range inner {
		first, ok1 := userns.ContainerID(outer, m.HostID)
		last, ok2 := userns.ContainerID(outer, m.HostID+m.Size-1)
		if !ok1 || !ok2 || last-first != m.Size-1 {
			return nil, fmt.Errorf("host ids %d-%d are not one range of the outer layout", m.HostID, m.HostID+m.Size-1)
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: first, Size: m.Size})
	}
	return out, nil
}

// nestedEnv returns the environment that makes a child, mapped with layout
// outer, run NestStage: it makes namespaces of flags with layout inner (in
// host ids) inside its own, and runs stage there.
func nestedEnv(stage string, flags uintptr, inner, outer userns.Mapping) ([]string, error) {
	uids, err := Relative(inner.UIDs, outer.UIDs)
	if err != nil {
		return nil, fmt.Errorf("nested uid layout: %w", err)
	}
	gids, err := Relative(inner.GIDs, outer.GIDs)
	if err != nil {
		return nil, fmt.Errorf("nested gid layout: %w", err)
	}
	data, err := json.Marshal(userns.Mapping{UIDs: uids, GIDs: gids})
	if err != nil {
		return nil, err
	}
	return []string{nestStageEnv + "=" + stage, nestFlagsEnv + "=" + strconv.FormatUint(uint64(flags), 10), nestMapEnv + "=" + string(data)}, nil
}

// RunNestStage is the outer process of a nested layout (see NestStage),
// reached through the program's re-exec hook. It returns the exit status
// to leave with: the real stage's (128+N when signal N killed it), or 125
// with an error when it could not start it.
func RunNestStage() (int, error) {
	runtime.LockOSThread() // the inner stage dies with this thread
	conn, err := WaitMapped(nil)
	if err != nil {
		return 125, err
	}
	stage, flagsStr, mapStr := os.Getenv(nestStageEnv), os.Getenv(nestFlagsEnv), os.Getenv(nestMapEnv)
	var m userns.Mapping
	flags, err := strconv.ParseUint(flagsStr, 10, 64)
	if err == nil {
		err = json.Unmarshal([]byte(mapStr), &m)
	}
	if err != nil || stage == "" {
		return 125, fmt.Errorf("nested stage: bad environment: %v", err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, k := range []string{StageEnv, nestStageEnv, nestFlagsEnv, nestMapEnv, mappedEnv} {
			if strings.HasPrefix(kv, k+"=") {
				return true
			}
		}
		return false
	})
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append([]string{"rless-" + stage}, os.Args[1:]...),
		Env:        append(env, StageEnv+"="+stage, mappedEnv+"="+syncmsg.Mapped),
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{conn.File()},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:                 uintptr(flags) | syscall.CLONE_NEWUSER,
			UidMappings:                sysMappings(m.UIDs),
			GidMappings:                sysMappings(m.GIDs),
			GidMappingsEnableSetgroups: true,
			// Root of the new namespace before executing, so that it
			// executes with its capabilities there.
			Credential: &syscall.Credential{Uid: 0, Gid: 0},
			Pdeathsig:  syscall.SIGKILL,
			Setsid:     true,
		},
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	if err := cmd.Start(); err != nil {
		return 125, fmt.Errorf("create nested namespaces: %w", err)
	}
	// The socket is the inner stage's now: rless sees it close when that
	// stage executes the command.
	conn.Close()
	// Every signal but those of the Go runtime and of its own children.
	_ = (&Child{Cmd: cmd}).Wait(context.Background(), sigs, func(sig os.Signal) bool {
		return sig == syscall.SIGCHLD || sig == syscall.SIGURG
	})
	return ExitCode(cmd.ProcessState), nil
}
