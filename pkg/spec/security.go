package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultMaskedPaths are hidden from a container (bound to /dev/null, or an
// empty read-only tmpfs for directories), as podman does.
var DefaultMaskedPaths = []string{
	"/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
	"/sys/dev/block", "/sys/devices/virtual/powercap", "/sys/firmware", "/sys/fs/selinux",
}

// DefaultReadonlyPaths are mounted read-only in a container, as podman does.
var DefaultReadonlyPaths = []string{
	"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// AllCapabilities returns the names of every capability this package
// knows ("CAP_CHOWN", ...), which --privileged keeps.
func AllCapabilities() []string {
	var out []string
	for _, c := range capability.ListKnown() {
		out = append(out, "CAP_"+strings.ToUpper(c.String()))
	}
	return out
}

// NormalizeCapability turns "fowner", "CAP_FOWNER" or "cap_fowner" into
// "CAP_FOWNER", and "all" into "ALL"; it fails for an unknown name.
func NormalizeCapability(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if !slices.Contains(AllCapabilities(), n) {
		return "", fmt.Errorf("unknown capability %q", name)
	}
	return n, nil
}

// Capabilities returns the capability set of a container: the default set
// (or all capabilities when privileged), with add added and drop dropped,
// as podman computes it: "ALL" in drop empties the set before add is
// applied, "ALL" in add keeps everything not dropped.
func Capabilities(add, drop []string, privileged bool) ([]string, error) {
	norm := func(names []string) ([]string, error) {
		out := make([]string, 0, len(names))
		for _, n := range names {
			c, err := NormalizeCapability(n)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	add, err := norm(add)
	if err != nil {
		return nil, fmt.Errorf("capabilities to add: %w", err)
	}
	drop, err = norm(drop)
	if err != nil {
		return nil, fmt.Errorf("capabilities to drop: %w", err)
	}
	set := slices.Clone(DefaultCapabilities)
	if privileged || slices.Contains(add, "ALL") {
		set = AllCapabilities()
	}
	if slices.Contains(drop, "ALL") {
		set = nil
	}
	for _, c := range add {
		if c != "ALL" && !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	set = slices.DeleteFunc(set, func(c string) bool { return slices.Contains(drop, c) && !slices.Contains(add, c) })
	slices.Sort(set)
	if set == nil {
		set = []string{} // empty, not "the default"
	}
	return set, nil
}

// MaskedAndReadonly returns the masked and read-only paths of a container:
// podman's defaults (none when privileged), with unmask removing paths
// ("ALL" removes every default, masked and read-only) and mask adding.
func MaskedAndReadonly(mask, unmask []string, privileged bool) (masked, readonly []string) {
	masked, readonly = []string{}, []string{} // empty, not "the defaults"
	if !privileged && !slices.Contains(unmask, "ALL") {
		for _, p := range DefaultMaskedPaths {
			if !slices.Contains(unmask, p) {
				masked = append(masked, p)
			}
		}
		for _, p := range DefaultReadonlyPaths {
			if !slices.Contains(unmask, p) {
				readonly = append(readonly, p)
			}
		}
	}
	for _, p := range mask {
		if !slices.Contains(masked, p) {
			masked = append(masked, p)
		}
	}
	return masked, readonly
}

// applyCapabilities sets set as the bounding, permitted and effective sets
// of the spec's process (inheritable and ambient empty).
func applyCapabilities(s *specs.Spec, set []string) {
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: slices.Clone(set), Permitted: slices.Clone(set), Effective: slices.Clone(set),
		Inheritable: []string{}, Ambient: []string{},
	}
}
