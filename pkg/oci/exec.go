package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/container"
)

// ExecOptions are the options of exec.
type ExecOptions struct {
	// ID is the container.
	ID string
	// ProcessFile is the path of a process JSON (runc's --process); when
	// "", the process is the container's own with Args and the fields
	// below changed.
	ProcessFile string
	// Args is the command, without ProcessFile.
	Args []string
	// Env is added to the environment (KEY=VALUE).
	Env []string
	// Cwd is the working directory ("" keeps the container's).
	Cwd string
	// User is "UID[:GID]" ("" keeps the container's).
	User string
	// Caps are capabilities added (CAP_*).
	Caps []string
	// Terminal gives the process a pseudo-terminal.
	Terminal bool
	// ConsoleSocket receives the terminal's master (see SendConsole);
	// without it the caller relays the terminal (Process.Terminal).
	ConsoleSocket string
	// Stdin, Stdout and Stderr are the process's streams (nil:
	// /dev/null).
	Stdin          *os.File
	Stdout, Stderr *os.File
}

// Exec starts a process in the running container o.ID. It runs until it
// ends whatever becomes of the caller; the caller may wait for it and
// signal it through the returned Process.
func (r *Runtime) Exec(ctx context.Context, o ExecOptions) (*container.Process, error) {
	c, err := r.Load(o.ID)
	if err != nil {
		return nil, err
	}
	st, err := c.State()
	if err != nil {
		return nil, err
	}
	if st.Status != container.Running {
		return nil, fmt.Errorf("cannot exec in a container that is %s", st.Status)
	}
	p, err := execProcess(st.Spec, o)
	if err != nil {
		return nil, err
	}
	if p.Terminal && o.ConsoleSocket == "" && o.Stdin == nil {
		return nil, errors.New("a terminal needs --console-socket or standard streams")
	}
	cfg := container.ExecConfig{Process: p}
	if !p.Terminal || o.ConsoleSocket == "" {
		cfg.Stdin, cfg.Stdout, cfg.Stderr = streams(o.Stdin, o.Stdout, o.Stderr)
	}
	proc, err := container.Exec(ctx, filepath.Join(r.root(), o.ID), cfg)
	if err != nil {
		return nil, err
	}
	if p.Terminal && o.ConsoleSocket != "" {
		if err := SendConsole(o.ConsoleSocket, proc.Terminal()); err != nil {
			_ = proc.Signal(9)
			return nil, err
		}
	}
	return proc, nil
}

// execProcess is the process o describes, for a container of spec s.
func execProcess(s *specs.Spec, o ExecOptions) (*specs.Process, error) {
	if o.ProcessFile != "" {
		b, err := os.ReadFile(o.ProcessFile)
		if err != nil {
			return nil, fmt.Errorf("process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("process %s: %w", o.ProcessFile, err)
		}
		if len(p.Args) == 0 {
			return nil, errors.New("process: args must not be empty")
		}
		return &p, nil
	}
	if len(o.Args) == 0 {
		return nil, errors.New("exec needs a command (or --process)")
	}
	p := specs.Process{}
	if s != nil && s.Process != nil {
		p = *s.Process
		p.Env = append([]string(nil), p.Env...)
		if c := p.Capabilities; c != nil {
			cc := *c
			p.Capabilities = &cc
		}
	}
	p.Args = o.Args
	p.Terminal = o.Terminal
	p.ConsoleSize = nil
	p.Env = append(p.Env, o.Env...)
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	if o.User != "" {
		u, g, hasG := strings.Cut(o.User, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: want UID[:GID]", o.User)
		}
		p.User = specs.User{UID: uint32(uid), GID: p.User.GID}
		if hasG {
			gid, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: want UID[:GID]", o.User)
			}
			p.User.GID = uint32(gid)
		}
	}
	if len(o.Caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		c := p.Capabilities
		for _, name := range o.Caps {
			name = strings.ToUpper(name)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			c.Bounding = append(c.Bounding, name)
			c.Effective = append(c.Effective, name)
			c.Permitted = append(c.Permitted, name)
		}
	}
	return &p, nil
}
