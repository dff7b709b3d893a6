package userns

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// KeepID returns the layout of podman's --userns=keep-id for this host:
// container uid uid (gid gid) is the caller's own id, so that files the
// container's user writes to a bind mount belong to the caller, and the
// other container ids are the subordinate ranges in order, skipping it
// (0..uid-1 are the first uid ids of the ranges, uid+1.. the rest). uid and
// gid default (when negative) to the caller's ids. It needs the ranges and
// helpers of a multi-id mapping, since the container's root must be some
// other id than the caller's.
func (h *Host) KeepID(uid, gid int) (Mapping, error) {
	m, fallback := h.Mapping()
	if fallback != "" {
		return Mapping{}, fmt.Errorf("keep-id needs a multi-id mapping: %s", fallback)
	}
	if uid < 0 {
		uid = h.UID
	}
	if gid < 0 {
		gid = h.GID
	}
	var err error
	if m.UIDs, err = keepID(m.UIDs, uint32(uid)); err != nil {
		return Mapping{}, fmt.Errorf("keep-id uid %d: %w", uid, err)
	}
	if m.GIDs, err = keepID(m.GIDs, uint32(gid)); err != nil {
		return Mapping{}, fmt.Errorf("keep-id gid %d: %w", gid, err)
	}
	return m, nil
}

// keepID turns a default layout (container 0 = the caller, 1..N = the
// subordinate ranges) into keep-id's: container id x is the caller, and the
// subordinate ids, in order, fill 0..x-1 and x+1..N.
func keepID(def []specs.LinuxIDMapping, x uint32) ([]specs.LinuxIDMapping, error) {
	if len(def) < 2 || def[0].ContainerID != 0 || def[0].Size != 1 {
		return nil, errors.New("not a default layout")
	}
	var n uint32
	for _, r := range def[1:] {
		n += r.Size
	}
	if x > n {
		return nil, fmt.Errorf("beyond the %d subordinate ids", n)
	}
	out := []specs.LinuxIDMapping{{ContainerID: x, HostID: def[0].HostID, Size: 1}}
	next := uint32(0) // next container id to give
	for _, r := range def[1:] {
		host, size := r.HostID, r.Size
		if next < x && next+size > x {
			// The caller's id falls inside this range: split it.
			first := x - next
			out = append(out, specs.LinuxIDMapping{ContainerID: next, HostID: host, Size: first})
			host, size, next = host+first, size-first, x+1
		} else if next == x {
			next++
		}
		if size > 0 {
			out = append(out, specs.LinuxIDMapping{ContainerID: next, HostID: host, Size: size})
			next += size
		}
	}
	return out, nil
}

// ContainerID translates host id id through ms, the inverse of HostID; ok
// is false when no container id maps to it.
func ContainerID(ms []specs.LinuxIDMapping, id uint32) (container uint32, ok bool) {
	for _, m := range ms {
		if id >= m.HostID && id-m.HostID < m.Size {
			return m.ContainerID + id - m.HostID, true
		}
	}
	return 0, false
}

// Remap returns the function that moves a file between two layouts: given
// the id a file has as seen in a namespace of layout from, it returns the id
// to give the file, as seen in that same namespace, for a namespace of
// layout to to see the original id. ok is false for an id that one of the
// layouts cannot carry.
func Remap(from, to []specs.LinuxIDMapping) func(id uint32) (uint32, bool) {
	return func(id uint32) (uint32, bool) {
		host, ok := HostID(to, id)
		if !ok {
			return 0, false
		}
		return ContainerID(from, host)
	}
}

// Key returns a short string naming m, for caches of files owned for it.
func (m Mapping) Key() string {
	sum := sha256.Sum256([]byte(format(m.UIDs, ",") + ";" + format(m.GIDs, ",")))
	return hex.EncodeToString(sum[:8])
}
