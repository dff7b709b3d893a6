package userns

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// KeepID returns podman's --userns=keep-id layout of m: container id
// inside is the id that container id 0 has in m (the caller's own), the ids
// below it are m's ids 1..inside, and the ids above it keep their place.
// Files a container writes as inside into a bind-mounted directory then
// belong to the caller on the host. It needs a mapping with helpers that
// reaches above inside.
func KeepID(ms []specs.LinuxIDMapping, inside uint32) ([]specs.LinuxIDMapping, error) {
	var total uint32
	for _, m := range ms {
		total = max(total, m.ContainerID+m.Size)
	}
	if inside == 0 {
		return ms, nil
	}
	if inside >= total {
		return nil, fmt.Errorf("keep-id: id %d is outside the %d ids of your mapping (a larger subordinate range is needed)", inside, total)
	}
	var out []specs.LinuxIDMapping
	out = append(out, shifted(ms, 1, inside+1, -1)...)
	out = append(out, shifted(ms, 0, 1, int64(inside))...)
	out = append(out, shifted(ms, inside+1, total, 0)...)
	return out, nil
}

// shifted returns the part of ms for container ids [from, to), moved by
// delta.
func shifted(ms []specs.LinuxIDMapping, from, to uint32, delta int64) []specs.LinuxIDMapping {
	var out []specs.LinuxIDMapping
	for _, m := range ms {
		lo, hi := max(m.ContainerID, from), min(m.ContainerID+m.Size, to)
		if lo >= hi {
			continue
		}
		out = append(out, specs.LinuxIDMapping{
			ContainerID: uint32(int64(lo) + delta),
			HostID:      m.HostID + (lo - m.ContainerID),
			Size:        hi - lo,
		})
	}
	return out
}
