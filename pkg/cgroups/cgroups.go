// Package cgroups enforces a container's pids, memory and CPU limits in the
// cgroup v2 subtree a user has been delegated (as systemd delegates
// user@UID.service): rless makes rless.slice there, with the controllers
// enabled, and one cgroup per container below it, into which the container
// is cloned (CLONE_INTO_CGROUP), so that no process of it ever runs
// outside its limits.
//
// Without such a subtree (cgroup v1 or hybrid hosts, no systemd user
// session) Detect says why, and callers fall back or refuse.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mount is where the cgroup v2 hierarchy is mounted.
const Mount = "/sys/fs/cgroup"

// Delegation is a cgroup v2 subtree the caller may manage.
type Delegation struct {
	Dir         string   `json:"dir"`                   // absolute path of the delegated cgroup
	Controllers []string `json:"controllers,omitempty"` // those its children may use
	Why         string   `json:"why,omitempty"`         // why there is none, when Dir is ""
}

// Available reports whether the delegation exists and offers every one of
// controllers.
func (d Delegation) Available(controllers ...string) bool {
	if d.Dir == "" {
		return false
	}
	for _, c := range controllers {
		if !slices.Contains(d.Controllers, c) {
			return false
		}
	}
	return true
}

// Reason says why d cannot serve controller: there is no delegation, or it
// does not offer the controller.
func (d Delegation) Reason(controller string) string {
	if d.Dir == "" {
		return d.Why
	}
	return "the delegated cgroup " + d.Dir + " does not offer the " + controller + " controller"
}

// Detect finds the caller's delegated subtree on this host.
func Detect() Delegation {
	var st unix.Statfs_t
	if unix.Statfs(Mount, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return Delegation{Why: "this host does not mount cgroup v2 at " + Mount}
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Delegation{Why: "cannot read /proc/self/cgroup"}
	}
	return Find(Mount, string(self))
}

// Find returns the delegated subtree in the hierarchy mounted at mount for
// a process whose /proc/self/cgroup reads self: the highest ancestor of its
// cgroup (itself included) whose processes and controllers the caller may
// write, as systemd leaves them to the user of a user@UID.service.
func Find(mount, self string) Delegation {
	var path string
	for _, line := range strings.Split(strings.TrimSpace(self), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return Delegation{Why: "the process is in no cgroup v2 (hybrid or v1 hierarchy)"}
	}
	var found string
	for dir := filepath.Join(mount, path); strings.HasPrefix(dir, mount) && dir != mount; dir = filepath.Dir(dir) {
		if !writable(filepath.Join(dir, "cgroup.procs")) || !writable(filepath.Join(dir, "cgroup.subtree_control")) {
			break
		}
		found = dir
	}
	if found == "" {
		return Delegation{Why: "cgroup " + path + " is not delegated to you (no systemd user session?)"}
	}
	ctrl, _ := os.ReadFile(filepath.Join(found, "cgroup.subtree_control"))
	return Delegation{Dir: found, Controllers: strings.Fields(string(ctrl))}
}

func writable(path string) bool { return unix.Access(path, unix.W_OK) == nil }

// Controllers returns the controllers limits r needs.
func Controllers(r *specs.LinuxResources) []string {
	var out []string
	if r == nil {
		return nil
	}
	if r.Pids != nil {
		out = append(out, "pids")
	}
	if r.Memory != nil && r.Memory.Limit != nil {
		out = append(out, "memory")
	}
	if r.CPU != nil && r.CPU.Quota != nil {
		out = append(out, "cpu")
	}
	return out
}

// Create makes the cgroup of container id in d (d.Dir/rless.slice/id)
// with limits r, and returns its path.
func Create(d Delegation, id string, r *specs.LinuxResources) (string, error) {
	need := Controllers(r)
	if !d.Available(need...) {
		return "", fmt.Errorf("cgroup limits need the %s controllers delegated: %s", strings.Join(need, ", "), d.Why)
	}
	slice := filepath.Join(d.Dir, "rless.slice")
	if err := os.Mkdir(slice, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("create %s: %w", slice, err)
	}
	// rless.slice holds no process, so it may hand controllers down.
	var enable []string
	for _, c := range need {
		enable = append(enable, "+"+c)
	}
	if len(enable) > 0 {
		if err := write(slice, "cgroup.subtree_control", strings.Join(enable, " ")); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(slice, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	if err := setLimits(dir, r); err != nil {
		os.Remove(dir)
		return "", err
	}
	return dir, nil
}

func setLimits(dir string, r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if r.Pids != nil {
		v := "max"
		if r.Pids.Limit != nil && *r.Pids.Limit > 0 {
			v = strconv.FormatInt(*r.Pids.Limit, 10)
		}
		if err := write(dir, "pids.max", v); err != nil {
			return err
		}
	}
	if r.Memory != nil && r.Memory.Limit != nil {
		if err := write(dir, "memory.max", strconv.FormatInt(*r.Memory.Limit, 10)); err != nil {
			return err
		}
	}
	if r.CPU != nil && r.CPU.Quota != nil {
		period := uint64(100000)
		if r.CPU.Period != nil {
			period = *r.CPU.Period
		}
		if err := write(dir, "cpu.max", fmt.Sprintf("%d %d", *r.CPU.Quota, period)); err != nil {
			return err
		}
	}
	return nil
}

func write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("cgroup: write %q to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}

// Remove removes the cgroup dir made by Create, waiting a little for the
// kernel to see it empty (its last processes are being reaped).
func Remove(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}
