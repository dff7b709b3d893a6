package overlay

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// Annotations of the spec that carry a Layout.
const (
	AnnotationLower    = "io.rless.overlay.lowerdir" // lower directories, top first, one a line
	AnnotationUpper    = "io.rless.overlay.upperdir"
	AnnotationWork     = "io.rless.overlay.workdir"
	AnnotationDriver   = "io.rless.overlay.driver"
	AnnotationProgram  = "io.rless.overlay.mount_program"
	AnnotationVolatile = "io.rless.overlay.volatile"
)

// Drivers: how a Layout becomes a root filesystem.
const (
	// Native is the kernel's overlayfs (the default).
	Native = "overlay"
	// Fuse is a FUSE overlay program (fuse-overlayfs), for kernels or
	// file systems that refuse overlayfs in a user namespace.
	Fuse = "fuse"
	// Copy copies the layers into the writable layer and binds that: the
	// last resort, slow for big images.
	Copy = "copy"
)

// Layout is an overlay root filesystem.
type Layout struct {
	Lower   []string // read-only layers, the top one first
	Upper   string   // the container's writable layer
	Work    string   // overlayfs's work directory, on Upper's file system
	Driver  string   // Native, Fuse or Copy; "" tries them in this order
	Program string   // the FUSE program of Fuse (default fuse-overlayfs)
	// Volatile mounts the kernel's overlayfs with "volatile": no sync of
	// the writable layer, ever (unmounting does not flush it). For a
	// container whose writable layer goes when it ends, as podman does for
	// --rm: after a crash such a layer is not to be used again.
	Volatile bool
}

// Annotate records l in a spec's annotations.
func (l Layout) Annotate(a map[string]string) {
	a[AnnotationLower] = strings.Join(l.Lower, "\n")
	a[AnnotationUpper] = l.Upper
	a[AnnotationWork] = l.Work
	if l.Driver != "" {
		a[AnnotationDriver] = l.Driver
	}
	if l.Program != "" {
		a[AnnotationProgram] = l.Program
	}
	if l.Volatile {
		a[AnnotationVolatile] = "true"
	}
}

// FromAnnotations returns the Layout a spec's annotations carry, if any.
func FromAnnotations(a map[string]string) (Layout, bool) {
	lower := a[AnnotationLower]
	if lower == "" {
		return Layout{}, false
	}
	return Layout{
		Lower: strings.Split(lower, "\n"), Upper: a[AnnotationUpper], Work: a[AnnotationWork],
		Driver: a[AnnotationDriver], Program: a[AnnotationProgram],
		Volatile: a[AnnotationVolatile] == "true",
	}, true
}

// Mount mounts l on target with l's driver. It must run in a mount
// namespace owned by the user namespace that owns the layers' files' ids
// (as root there). With Native, any number of layers works: each is added
// with fsconfig's "lowerdir+" (Linux 6.8); older kernels get one mount
// option string, which holds as many layers as fit in a page.
func Mount(l Layout, target string) error {
	if len(l.Lower) == 0 || l.Upper == "" || l.Work == "" {
		return errors.New("overlay: lower, upper and work directories are all needed")
	}
	if l.Driver != Copy {
		if err := matchRoot(l.Lower[0], l.Upper, nil); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	switch l.Driver {
	case "":
		_, err := mountAuto(l, target)
		return err
	case Native:
		return mountNative(l, target)
	case Fuse:
		return mountFuse(l, target)
	case Copy:
		return mountCopy(l, target)
	default:
		return fmt.Errorf("overlay: unknown driver %q", l.Driver)
	}
}

// mountAuto mounts l on target with the first driver of the automatic
// order that works: the kernel's overlayfs, else the FUSE program when there
// is one, else a copy. It says what it found (without Kernel): the driver
// that mounted, the FUSE program found, and why the drivers before it
// failed.
func mountAuto(l Layout, target string) (Detection, error) {
	var d Detection
	err := mountNative(l, target)
	if err == nil {
		d.Driver = Native
		return d, nil
	}
	slog.Debug("native overlay refused, falling back", "err", err)
	reasons := []string{err.Error()}
	if d.Found, err = findFuse(); err == nil {
		l.Program = d.Found
		if err = mountFuse(l, target); err == nil {
			d.Driver, d.Program, d.Reason = Fuse, d.Found, reasons[0]
			return d, nil
		}
		slog.Debug("fuse-overlayfs failed, copying", "err", err)
	}
	d.Driver, d.Reason = Copy, strings.Join(append(reasons, err.Error()), "; ")
	return d, mountCopy(l, target)
}

// matchRoot gives dst (the writable layer's root, which is the merged
// root's, or a flattened copy's) the owner and mode of top, the top layer's
// root, its owner mapped through idmap unless that is nil. They differ when
// the store made the writable layer for a namespace of another layout.
func matchRoot(top, dst string, idmap IDMap) error {
	var lower, upper unix.Stat_t
	if err := unix.Stat(top, &lower); err != nil {
		return err
	}
	if idmap != nil {
		var ok bool
		if lower.Uid, lower.Gid, ok = idmap(lower.Uid, lower.Gid); !ok {
			return fmt.Errorf("layer %s: owner of / cannot be mapped", top)
		}
	}
	if err := unix.Stat(dst, &upper); err != nil {
		return err
	}
	if lower.Uid != upper.Uid || lower.Gid != upper.Gid {
		if err := unix.Chown(dst, int(lower.Uid), int(lower.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", dst, err)
		}
	}
	if lower.Mode&0o7777 != upper.Mode&0o7777 {
		if err := unix.Chmod(dst, lower.Mode&0o7777); err != nil {
			return fmt.Errorf("chmod %s: %w", dst, err)
		}
	}
	return nil
}

// findFuse looks for fuse-overlayfs on PATH and where distributions put
// it (a container's stage may have no PATH).
func findFuse() (string, error) {
	if p, err := exec.LookPath("fuse-overlayfs"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/fuse-overlayfs", "/usr/local/bin/fuse-overlayfs", "/bin/fuse-overlayfs"} {
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("fuse-overlayfs not found")
}

func mountNative(l Layout, target string) error {
	err := mountNew(l, target)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		err = mountOld(l, target)
	}
	if err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

func mountNew(l Layout, target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
		return err
	}
	if l.Volatile {
		// Linux 5.10; without it the mount only syncs more.
		_ = unix.FsconfigSetFlag(fd, "volatile")
	}
	for _, d := range l.Lower {
		if err := unix.FsconfigSetString(fd, "lowerdir+", d); err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
	}
	if err := unix.FsconfigSetString(fd, "upperdir", l.Upper); err != nil {
		return err
	}
	if err := unix.FsconfigSetString(fd, "workdir", l.Work); err != nil {
		return err
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return err
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

func mountOld(l Layout, target string) error {
	for _, d := range append(l.Lower, l.Upper, l.Work) {
		if strings.ContainsAny(d, ":,") {
			return fmt.Errorf("directory %q has a ':' or ',', which overlay's mount options cannot carry", d)
		}
	}
	data := "userxattr,lowerdir=" + strings.Join(l.Lower, ":") + ",upperdir=" + l.Upper + ",workdir=" + l.Work
	if l.Volatile {
		data += ",volatile"
	}
	if len(data) >= unix.Getpagesize() {
		return fmt.Errorf("%d layers do not fit in overlay's mount options on this kernel (before Linux 6.8)", len(l.Lower))
	}
	return unix.Mount("overlay", target, "overlay", 0, data)
}
