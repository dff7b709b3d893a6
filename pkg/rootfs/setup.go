package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/overlay"
	"golang.org/x/sys/unix"
)

// ownFiles gives the container's root the files rless wrote for the
// container in its storage directory dir (/etc/hosts and the like, bound
// in by mounts): they belong to the user, who is not the container's root
// in every layout.
func ownFiles(dir string, mounts []specs.Mount) error {
	for _, m := range mounts {
		if m.Type != "bind" || filepath.Dir(m.Source) != dir {
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(m.Source, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid == 0 && st.Gid == 0 {
			continue
		}
		if err := unix.Lchown(m.Source, 0, 0); err != nil {
			return fmt.Errorf("chown %s: %w", m.Source, err)
		}
	}
	return nil
}

// Setup builds the container's root filesystem described by spec and makes
// it the root of the calling process. The caller must be alone in a new
// mount namespace (and, for /proc, /sys and /dev/mqueue, in the PID, network
// and IPC namespaces those belong to) and hold CAP_SYS_ADMIN in its user
// namespace. Nothing Setup mounts is visible outside that namespace.
func Setup(spec *specs.Spec) error {
	if spec.Root == nil || spec.Root.Path == "" {
		return errors.New("spec has no root path")
	}
	root, err := CheckRoot(spec.Root.Path)
	if err != nil {
		return err
	}
	// Keep every mount made from here on inside this namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	// An image's root: its layers under the container's writable layer.
	if l, ok := overlay.FromAnnotations(spec.Annotations); ok {
		if err := overlay.Mount(l, root); err != nil {
			return err
		}
		if err := ownFiles(filepath.Dir(l.Upper), spec.Mounts); err != nil {
			return err
		}
	}
	if spec.Annotations[AnnotationHostRoot] != "" {
		// The host's own root (rless sandbox), with its submounts, on the
		// empty directory root: read-only (submounts too) unless "rw";
		// what is mounted on it later stays as it is mounted.
		if err := unix.Mount("/", root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind the host's root on %s: %w", root, err)
		}
		if spec.Annotations[AnnotationHostRoot] != "rw" {
			if err := makeReadOnly(root, true); err != nil {
				return fmt.Errorf("make the host's root read-only: %w", err)
			}
		}
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", root, err)
	}
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	r := &builder{rootFD: rootFD, root: root}
	for _, m := range spec.Mounts {
		if err := r.mount(m); err != nil {
			return err
		}
	}
	if spec.Linux != nil {
		for _, d := range spec.Linux.Devices {
			if err := r.bindDevice(d); err != nil {
				return err
			}
		}
	}
	if err := r.devLinks(); err != nil {
		return err
	}
	if err := pivot(root); err != nil {
		return err
	}
	if spec.Root.Readonly {
		if err := makeReadOnly("/", false); err != nil {
			return fmt.Errorf("make rootfs read-only: %w", err)
		}
	}
	if spec.Linux != nil && spec.Linux.RootfsPropagation != "" {
		// Inside the namespace: its mounts are private to it until here.
		flag, ok := propagationOpts[spec.Linux.RootfsPropagation]
		if !ok {
			return fmt.Errorf("linux.rootfsPropagation %q: unknown", spec.Linux.RootfsPropagation)
		}
		if err := unix.Mount("", "/", "", flag, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %s: %w", spec.Linux.RootfsPropagation, err)
		}
	}
	return nil
}

// AnnotationHostRoot, in a container's spec, makes its root (an empty
// directory) the host's own root: "ro" read-only, "rw" as the host's
// mounts are. It is how a container's root can be "/".
const AnnotationHostRoot = "io.rless.rootfs.host"

// IsPropagation reports whether name is a mount propagation (private,
// rshared, ...).
func IsPropagation(name string) bool {
	_, ok := propagationOpts[name]
	return ok
}

// CheckRoot returns the absolute path of root, a root filesystem
// directory, or an error saying why it cannot be one.
func CheckRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("rootfs: %w", err)
	} else if !fi.IsDir() {
		return "", fmt.Errorf("rootfs %s is not a directory", abs)
	}
	return abs, nil
}

type builder struct {
	rootFD int
	root   string
	hasDev bool // a tmpfs was mounted on /dev
}

// mount performs one OCI mount inside the root.
func (r *builder) mount(m specs.Mount) error {
	o := parseOptions(m.Options)
	isBind := o.flags&unix.MS_BIND != 0 || m.Type == "bind"
	var srcIsDir = true
	if isBind {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind mount source: %w", err)
		}
		srcIsDir = fi.IsDir()
	}
	fd, err := r.openOrCreate(m.Destination, srcIsDir)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", m.Destination, err)
	}
	defer unix.Close(fd)
	target := fdPath(fd)
	if m.Destination == "/dev" && m.Type == "tmpfs" {
		r.hasDev = true
	}
	switch {
	case isBind:
		flags := o.flags | unix.MS_BIND
		if err := unix.Mount(m.Source, target, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", m.Source, m.Destination, err)
		}
		if o.flags&unix.MS_RDONLY != 0 || o.recursiveRO {
			if err := r.makeReadOnly(m.Destination, flags&unix.MS_REC != 0); err != nil {
				return fmt.Errorf("make %s read-only: %w", m.Destination, err)
			}
		}
	default:
		typ := m.Type
		if typ == "cgroup" && unifiedCgroup() {
			// "cgroup" is the host's cgroup file system (runc's reading).
			typ = "cgroup2"
		}
		err := unix.Mount(m.Source, target, typ, o.flags, o.data)
		if errors.Is(err, unix.EINVAL) && m.Type == "devpts" && strings.Contains(o.data, "gid=") {
			// gid 5 (tty) is not mapped with a single-id mapping.
			err = unix.Mount(m.Source, target, m.Type, o.flags, dropOption(o.data, "gid="))
		}
		if err != nil && (m.Type == "sysfs" || m.Type == "mqueue" || m.Type == "cgroup2" || m.Type == "cgroup") {
			// Not owning the network/IPC namespace (for example with the
			// host network) forbids a new instance, as cgroup v1 does any
			// in a user namespace: bind the host's.
			if err = unix.Mount("/"+strings.TrimPrefix(m.Destination, "/"), target, "", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				err = r.makeReadOnly(m.Destination, true)
			}
		}
		if err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Type, m.Destination, err)
		}
	}
	if o.propagation != 0 {
		mfd, err := r.open(m.Destination)
		if err != nil {
			return err
		}
		defer unix.Close(mfd)
		if err := unix.Mount("", fdPath(mfd), "", o.propagation, ""); err != nil {
			return fmt.Errorf("set propagation of %s: %w", m.Destination, err)
		}
	}
	return nil
}

// makeReadOnly makes the mount at dest (inside the root) read-only.
func (r *builder) makeReadOnly(dest string, recursive bool) error {
	// Reopen: the descriptor used as mount target points below the new mount.
	fd, err := r.open(dest)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return setReadOnly(fd, recursive)
}

// bindDevice makes device d available in the root by binding the host's
// node: a user namespace cannot create device nodes.
func (r *builder) bindDevice(d specs.LinuxDevice) error {
	fd, err := r.openOrCreate(d.Path, false)
	if err != nil {
		return fmt.Errorf("device %s: %w", d.Path, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(d.Path, fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind device %s: %w", d.Path, err)
	}
	return nil
}

// devLinks creates the standard symlinks of /dev.
func (r *builder) devLinks() error {
	if !r.hasDev {
		return nil
	}
	dev, err := r.openOrCreate("/dev", true)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	links := [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// pivot makes root the root of the mount namespace and detaches the old one.
func pivot(root string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldRoot)
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root to %s: %w", root, err)
	}
	// The old root is now mounted over the new one at "."; detach it.
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("chdir to old root: %w", err)
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// makeReadOnly makes the mount at path read-only (with its submounts when
// recursive), keeping the flags the kernel locked for this user namespace.
func makeReadOnly(path string, recursive bool) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return setReadOnly(fd, recursive)
}

// setReadOnly makes the mount whose root fd is read-only.
func setReadOnly(fd int, recursive bool) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(fd, "", flags, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// Kernels before 5.12: a bind remount, which must repeat locked flags.
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return err
	}
	locked := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	return unix.Mount("", fdPath(fd), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|locked, "")
}

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func dropOption(data, prefix string) string {
	var keep []string
	for _, o := range strings.Split(data, ",") {
		if !strings.HasPrefix(o, prefix) {
			keep = append(keep, o)
		}
	}
	return strings.Join(keep, ",")
}

// unifiedCgroup reports whether the host's /sys/fs/cgroup is cgroup v2.
func unifiedCgroup() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
