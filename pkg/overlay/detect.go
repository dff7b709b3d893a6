package overlay

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/rless/rless/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// Detection is which driver works for a store, as Probe found it.
type Detection struct {
	Driver  string `json:"driver"`            // Native, Fuse or Copy
	Program string `json:"program,omitempty"` // the FUSE program of Fuse
	Found   string `json:"found,omitempty"`   // the FUSE program found, if any (whether or not it worked)
	Kernel  string `json:"kernel"`            // the kernel release probed
	Reason  string `json:"reason,omitempty"`  // why Native (and Fuse) did not work
}

// CacheFile is the name of Detection's cache in a store's directory.
const CacheFile = "overlay.json"

// Probe finds the first driver of the automatic order (Native, Fuse, Copy)
// that mounts a small overlay of directories made under dir (which must be
// on the store's file system). It must run as root of a user namespace, in
// a mount namespace of its own (see Mount).
func Probe(dir string) (Detection, error) {
	tmp, err := os.MkdirTemp(dir, ".overlay-probe-")
	if err != nil {
		return Detection{}, fmt.Errorf("overlay probe: %w", err)
	}
	defer os.RemoveAll(tmp)
	l := Layout{Lower: []string{filepath.Join(tmp, "l")}, Upper: filepath.Join(tmp, "u"), Work: filepath.Join(tmp, "w")}
	target := filepath.Join(tmp, "m")
	for _, p := range []string{l.Lower[0], l.Upper, l.Work, target} {
		if err := os.Mkdir(p, 0o755); err != nil {
			return Detection{}, fmt.Errorf("overlay probe: %w", err)
		}
	}
	d, err := mountAuto(l, target)
	if err != nil {
		return d, fmt.Errorf("overlay probe: %w", err)
	}
	_ = unix.Unmount(target, unix.MNT_DETACH)
	d.Kernel = kernelRelease()
	return d, nil
}

// Cached returns the Detection cached in dir, if there is one for the
// running kernel and, unless its driver is Native, for the FUSE program
// (or its absence) found now: a program installed or removed since calls
// for a new probe.
func Cached(dir string) (Detection, bool) {
	var d Detection
	data, err := os.ReadFile(filepath.Join(dir, CacheFile))
	if err != nil || json.Unmarshal(data, &d) != nil || d.Kernel != kernelRelease() || d.Driver == "" {
		return d, false
	}
	if d.Driver != Native {
		if found, _ := findFuse(); found != d.Found {
			return d, false
		}
	}
	return d, true
}

// SaveCache caches d in dir.
func SaveCache(dir string, d Detection) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, CacheFile), data, 0o644); err != nil {
		return fmt.Errorf("cache overlay driver: %w", err)
	}
	slog.Debug("overlay driver detected", "driver", d.Driver, "reason", d.Reason)
	return nil
}

// Apply sets l's driver from d when l asks for the automatic choice: the
// one found to work, so that no failing driver is tried on every start.
func (d Detection) Apply(l *Layout) {
	if l.Driver != "" || d.Driver == Native {
		return // Native is tried first anyway, and keeps its fallbacks
	}
	l.Driver, l.Program = d.Driver, d.Program
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
