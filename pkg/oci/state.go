package oci

import (
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/container"
)

// State is a container's state as runc's state command prints it (the
// runtime spec's state, with runc's rootfs, created and owner).
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// State returns the state of container id.
func (r *Runtime) State(id string) (State, error) {
	c, err := r.Load(id)
	if err != nil {
		return State{}, err
	}
	st, err := c.State()
	if err != nil {
		return State{}, err
	}
	return stateOf(st), nil
}

func stateOf(st container.State) State {
	out := State{
		OCIVersion: specs.Version, ID: st.ID, Pid: st.Pid, Status: string(st.Status),
		Bundle: st.Bundle, Created: st.Created.UTC(), Owner: owner(st.Dir),
	}
	if st.Status == container.Stopped {
		out.Pid = 0
	}
	if s := st.Spec; s != nil {
		out.Annotations = s.Annotations
		if s.Root != nil {
			out.Rootfs = s.Root.Path
		}
	}
	return out
}

// owner is the name of the user that owns the state directory.
func owner(dir string) string {
	fi, err := os.Stat(dir)
	if err != nil {
		return ""
	}
	uid := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid))
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "#" + uid
}

// List returns the state of every container under the runtime's root,
// ordered by id.
func (r *Runtime) List() ([]State, error) {
	entries, err := os.ReadDir(r.root())
	if os.IsNotExist(err) {
		return []State{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []State{}
	for _, e := range entries {
		if !e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		st, err := container.ReadState(r.root(), e.Name(), true)
		if err != nil {
			continue // half made or removed meanwhile
		}
		st.Dir = filepath.Join(r.root(), e.Name())
		out = append(out, stateOf(st))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
