package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/container"
)

// Process is a process to start in a running container (Exec).
type Process struct {
	// Args is the command and its arguments; the command is found in the
	// process's PATH.
	Args []string
	// Env adds NAME=VALUE variables over the container's.
	Env []string
	// Workdir is the working directory ("": the container's).
	Workdir string
	// User is user[:group], as names (of the container's /etc/passwd and
	// /etc/group) or numbers ("": the container's user).
	User string
	// Terminal gives the process a pseudo-terminal of its own.
	Terminal bool
	// Privileged gives it every capability of the container's user
	// namespace and no seccomp filter.
	Privileged bool
	// Stdin, Stdout and Stderr are its streams (nil: /dev/null).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ExecProcess is a process started by Exec: Wait for its exit status,
// Signal it.
type ExecProcess = container.Process

// Exec starts p in the running container, with the container's
// confinement (its capabilities, seccomp filter, no_new_privs and limits,
// unless p is Privileged), through rless's init, which is the container's
// PID 1 (a container made with NoInit cannot exec).
func (c *Container) Exec(ctx context.Context, p Process) (*ExecProcess, error) {
	if len(p.Args) == 0 {
		return nil, fmt.Errorf("exec in container %s: no command given", c.ID())
	}
	rt, err := c.runtime()
	if err != nil {
		return nil, err
	}
	st, err := rt.State()
	if err != nil {
		return nil, err
	}
	if st.Status != Running {
		return nil, fmt.Errorf("exec in container %s: it is %s: %w", c.shortName(), st.Status, ErrNotRunning)
	}
	proc := &specs.Process{Args: p.Args, Terminal: p.Terminal}
	if st.Spec != nil && st.Spec.Process != nil {
		sp := st.Spec.Process
		proc.Env = slices.Clone(sp.Env)
		proc.Cwd = sp.Cwd
		proc.User = sp.User
		proc.NoNewPrivileges = sp.NoNewPrivileges
	}
	proc.Env = mergeEnv(proc.Env, p.Env)
	if p.Workdir != "" {
		proc.Cwd = p.Workdir
	}
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	if p.User != "" {
		// Resolved by the container's init, in the container's files.
		proc.User = specs.User{Username: p.User}
	}
	return rt.Exec(ctx, container.ExecConfig{
		Process: proc, Privileged: p.Privileged,
		Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr,
	})
}

// mergeEnv returns base with the NAME=VALUE entries of over set, replacing
// those of the same name.
func mergeEnv(base, over []string) []string {
	for _, kv := range over {
		name, _, _ := strings.Cut(kv, "=")
		base = slices.DeleteFunc(base, func(b string) bool {
			n, _, _ := strings.Cut(b, "=")
			return n == name
		})
		base = append(base, kv)
	}
	return base
}
