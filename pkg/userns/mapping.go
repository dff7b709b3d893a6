package userns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Host is what this host offers the calling user for user namespaces.
type Host struct {
	User      string  `json:"user"`
	UID       int     `json:"uid"`
	GID       int     `json:"gid"`
	SubUIDs   []Range `json:"subuids"`
	SubGIDs   []Range `json:"subgids"`
	NewUIDMap string  `json:"newuidmap"` // path, or "" when not installed
	NewGIDMap string  `json:"newgidmap"` // path, or "" when not installed
}

// DetectHost looks up the calling user's subordinate ranges and the
// newuidmap/newgidmap helpers.
func DetectHost() (*Host, error) {
	h := &Host{UID: os.Getuid(), GID: os.Getgid()}
	if u, err := user.LookupId(strconv.Itoa(h.UID)); err == nil {
		h.User = u.Username
	}
	var err error
	if h.SubUIDs, err = LookupSubIDs(SubUIDFile, h.User, h.UID); err != nil {
		return nil, err
	}
	if h.SubGIDs, err = LookupSubIDs(SubGIDFile, h.User, h.UID); err != nil {
		return nil, err
	}
	h.NewUIDMap, _ = exec.LookPath("newuidmap")
	h.NewGIDMap, _ = exec.LookPath("newgidmap")
	return h, nil
}

// Mapping is the uid and gid layout of a user namespace, in OCI form.
type Mapping struct {
	UIDs []specs.LinuxIDMapping `json:"uidMappings"`
	GIDs []specs.LinuxIDMapping `json:"gidMappings"`
	// Helpers is true when the mapping must be written by newuidmap and
	// newgidmap; false for a single mapping of the caller's own ids, which
	// the caller writes itself (and which denies setgroups).
	Helpers bool `json:"helpers"`
}

// Single reports whether the mapping maps only one uid (the caller's).
func (m Mapping) Single() bool { return !m.Helpers }

// OwnOnly reports whether the mapping maps only the caller's own uid and
// gid (to whichever container ids), which it writes itself.
func (m Mapping) OwnOnly() bool {
	return !m.Helpers && len(m.UIDs) == 1 && len(m.GIDs) == 1 && m.UIDs[0].Size == 1 && m.GIDs[0].Size == 1 &&
		m.UIDs[0].HostID == uint32(os.Getuid()) && m.GIDs[0].HostID == uint32(os.Getgid())
}

// OwnIDs returns the layout that maps only the caller's uid and gid, as
// container ids uid and gid (the caller's own when negative): no
// subordinate range or helper is needed, and the container has no root
// user (nor any other id). Its first process runs as uid with the
// capabilities of the namespace's owner (ambient, see internal/stage).
func (h *Host) OwnIDs(uid, gid int) Mapping {
	if uid < 0 {
		uid = h.UID
	}
	if gid < 0 {
		gid = h.GID
	}
	return Mapping{
		UIDs: []specs.LinuxIDMapping{{ContainerID: uint32(uid), HostID: uint32(h.UID), Size: 1}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: uint32(gid), HostID: uint32(h.GID), Size: 1}},
	}
}

// Mapping returns podman's rootless layout for this host: container id 0 is
// the caller's id and ids 1..N are the subordinate ranges, in order. When the
// caller has no range or a helper is missing it returns the single mapping
// and a reason (for a warning) instead.
func (h *Host) Mapping() (m Mapping, fallback string) {
	single := Mapping{
		UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(h.UID), Size: 1}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(h.GID), Size: 1}},
	}
	switch {
	case len(h.SubUIDs) == 0 || len(h.SubGIDs) == 0:
		name := h.User
		if name == "" {
			name = strconv.Itoa(h.UID)
		}
		return single, fmt.Sprintf("no subordinate uid/gid range for %s in %s and %s", name, SubUIDFile, SubGIDFile)
	case h.NewUIDMap == "" || h.NewGIDMap == "":
		return single, "newuidmap/newgidmap not found (install the uidmap package)"
	}
	return Mapping{UIDs: layout(h.UID, h.SubUIDs), GIDs: layout(h.GID, h.SubGIDs), Helpers: true}, ""
}

func layout(id int, ranges []Range) []specs.LinuxIDMapping {
	out := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(id), Size: 1}}
	next := uint32(1)
	for _, r := range ranges {
		out = append(out, specs.LinuxIDMapping{ContainerID: next, HostID: r.Start, Size: r.Count})
		next += r.Count
	}
	return out
}

// Apply writes m into the user namespace of process pid, which must be a
// child the caller created with CLONE_NEWUSER and that has not yet been
// mapped. With helpers it runs newuidmap and newgidmap (concurrently);
// otherwise it denies setgroups and writes the single mapping itself.
func Apply(ctx context.Context, pid int, m Mapping, h *Host) error {
	return ApplyThen(ctx, pid, m, h, func() {})
}

// ApplyThen is Apply that calls uidDone as soon as the uid mapping is
// written, while the gid helper may still run.
func ApplyThen(ctx context.Context, pid int, m Mapping, h *Host, uidDone func()) error {
	if !m.Helpers {
		proc := "/proc/" + strconv.Itoa(pid)
		if err := os.WriteFile(proc+"/setgroups", []byte("deny"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("deny setgroups for pid %d: %w", pid, err)
		}
		if err := os.WriteFile(proc+"/uid_map", []byte(format(m.UIDs, "\n")), 0); err != nil {
			return fmt.Errorf("write uid_map of pid %d: %w", pid, err)
		}
		if err := os.WriteFile(proc+"/gid_map", []byte(format(m.GIDs, "\n")), 0); err != nil {
			return fmt.Errorf("write gid_map of pid %d: %w", pid, err)
		}
		return nil
	}
	// The uid helper first: the child waits for it alone to go on.
	uid, err := startHelper(ctx, h.NewUIDMap, pid, m.UIDs)
	if err != nil {
		return err
	}
	gid, err := startHelper(ctx, h.NewGIDMap, pid, m.GIDs)
	if err != nil {
		_ = uid.wait()
		return err
	}
	err = uid.wait()
	if err == nil {
		uidDone()
	}
	return errors.Join(err, gid.wait())
}

// helper is a running newuidmap or newgidmap. Its output goes to a pipe
// read only if it fails (exec.Cmd would copy it through a goroutine and a
// 32 KiB buffer).
type helper struct {
	cmd *exec.Cmd
	out *os.File
}

func startHelper(ctx context.Context, path string, pid int, ms []specs.LinuxIDMapping) (*helper, error) {
	args := append([]string{strconv.Itoa(pid)}, strings.Fields(format(ms, " "))...)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	h := &helper{cmd: exec.CommandContext(ctx, path, args...), out: r}
	h.cmd.Stdout, h.cmd.Stderr = w, w
	if err := h.cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

func (h *helper) wait() error {
	defer h.out.Close()
	if err := h.cmd.Wait(); err != nil {
		out := make([]byte, 1024)
		n, _ := h.out.Read(out)
		return fmt.Errorf("%s: %s: %w", strings.Join(h.cmd.Args, " "), strings.TrimSpace(string(out[:n])), err)
	}
	return nil
}

// format renders mappings as "container host size" triples joined by sep.
func format(ms []specs.LinuxIDMapping, sep string) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%d %d %d", m.ContainerID, m.HostID, m.Size)
	}
	return strings.Join(parts, sep)
}

// HostID translates container id id through ms; ok is false when id is not mapped.
func HostID(ms []specs.LinuxIDMapping, id uint32) (host uint32, ok bool) {
	for _, m := range ms {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + id - m.ContainerID, true
		}
	}
	return 0, false
}
