package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/atomicfile"
)

// hooksFile keeps a container's hooks in its state directory from create
// on: later changes to config.json do not affect the container.
const hooksFile = "oci-hooks.json"

// The hooks the runtime runs, in the runtime's namespaces, with the
// container's state on their standard input, at the points the runtime
// validation suite checks: createRuntime at create, prestart at start
// before the process runs, poststart once it runs, poststop after delete.
// A failing createRuntime or prestart hook fails the operation (and stops
// the container); a failing poststart or poststop hook is logged.

// takeHooks takes the hooks out of s, which the container package does
// not run, and refuses those that would run in the container's
// namespaces.
func takeHooks(s *specs.Spec) (*specs.Hooks, error) {
	h := s.Hooks
	s.Hooks = nil
	if h == nil {
		return nil, nil
	}
	if len(h.CreateContainer) > 0 || len(h.StartContainer) > 0 {
		return nil, errors.New("hooks.createContainer and hooks.startContainer are not supported: rless runs hooks in the runtime's namespaces only")
	}
	return h, nil
}

func saveHooks(dir string, h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, hooksFile), b, 0o600)
}

func loadHooks(dir string) *specs.Hooks {
	b, err := os.ReadFile(filepath.Join(dir, hooksFile))
	if err != nil {
		return nil
	}
	var h specs.Hooks
	if json.Unmarshal(b, &h) != nil {
		return nil
	}
	return &h
}

// runHooks runs hooks in order with state on their standard input, and
// stops at the first that fails.
func runHooks(ctx context.Context, kind string, hooks []specs.Hook, st specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	input, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if err := runHook(ctx, h, input); err != nil {
			return fmt.Errorf("%s hook %s: %w", kind, h.Path, err)
		}
	}
	return nil
}

func runHook(ctx context.Context, h specs.Hook, input []byte) error {
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d: must be positive", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = h.Args
	if len(cmd.Args) == 0 {
		cmd.Args = []string{h.Path}
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(input)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// hookState is the state a hook gets.
func hookState(st State, status string) specs.State {
	return specs.State{
		Version: st.OCIVersion, ID: st.ID, Status: specs.ContainerState(status), Pid: st.Pid,
		Bundle: st.Bundle, Annotations: st.Annotations,
	}
}

// poststop runs the poststop hooks of a container that is gone (st, as it
// was), after delete.
func poststop(ctx context.Context, hooks *specs.Hooks, st State) {
	st.Pid = 0
	warnHooks(ctx, "poststop", hooks.Poststop, hookState(st, "stopped"))
}

// warnHooks runs hooks as runHooks does, but each failure is only logged
// as a warning and the hooks after it still run (poststart, poststop).
func warnHooks(ctx context.Context, kind string, hooks []specs.Hook, st specs.State) {
	for _, h := range hooks {
		if err := runHooks(ctx, kind, []specs.Hook{h}, st); err != nil {
			slog.Warn(err.Error())
			fmt.Fprintf(os.Stderr, "Warning: %v\n", err)
		}
	}
}
