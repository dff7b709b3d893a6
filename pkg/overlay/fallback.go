package overlay

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// mountFuse runs the FUSE overlay program, which mounts l on target and
// stays in the background serving it until the mount namespace goes.
func mountFuse(l Layout, target string) error {
	prog := l.Program
	if prog == "" {
		var err error
		if prog, err = findFuse(); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return fmt.Errorf("overlay: mount program: %w", err)
	}
	opts := "lowerdir=" + strings.Join(l.Lower, ":") + ",upperdir=" + l.Upper + ",workdir=" + l.Work
	out, err := exec.Command(path, "-o", opts, target).CombinedOutput()
	if err != nil {
		return fmt.Errorf("overlay: %s: %w: %s", prog, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// mountCopy copies the layers, bottom first, into the writable layer (once:
// a writable layer already made is used as it is), applying whiteouts and
// opaque directories, and binds it on target.
func mountCopy(l Layout, target string) error {
	done := filepath.Join(l.Work, "copied")
	if _, err := os.Stat(done); err != nil {
		if err := Flatten(l.Upper, l.Lower, nil); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		if err := os.WriteFile(done, nil, 0o600); err != nil {
			return err
		}
	}
	if err := unix.Mount(l.Upper, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("overlay: bind %s: %w", l.Upper, err)
	}
	return nil
}

// IDMap gives the owner a copied file gets from the owner it has; ok false
// refuses the file.
type IDMap func(uid, gid uint32) (newUID, newGID uint32, ok bool)

// Flatten copies the merged tree of the layers lower (top first, as in a
// Layout) into the directory dst, bottom layer first: whiteouts remove,
// opaque directories empty, and files keep their mode, xattrs, times and
// hardlinks within a layer. Owners go through idmap, or stay as they are
// when it is nil. The caller must be able to give files those owners (root
// of the user namespace that owns them).
func Flatten(dst string, lower []string, idmap IDMap) error {
	for i := len(lower) - 1; i >= 0; i-- {
		if err := copyLayer(lower[i], dst, idmap); err != nil {
			return fmt.Errorf("copy layer %s: %w", lower[i], err)
		}
	}
	// The root takes the top layer's owner and mode.
	return matchRoot(lower[0], dst, idmap)
}

// copyLayer applies the layer tree src to dst: whiteouts (0/0 devices)
// remove, opaque directories empty, everything else is copied with owner,
// mode, xattrs, times and hardlinks within the layer.
func copyLayer(src, dst string, idmap IDMap) error {
	links := map[uint64]string{}
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		to := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if idmap != nil {
			uid, gid, ok := idmap(st.Uid, st.Gid)
			if !ok {
				return fmt.Errorf("%s: owner %d:%d cannot be mapped", rel, st.Uid, st.Gid)
			}
			st.Uid, st.Gid = uid, gid
		}
		mode := st.Mode & unix.S_IFMT
		if mode == unix.S_IFCHR && st.Rdev == 0 { // whiteout
			return os.RemoveAll(to)
		}
		var existing unix.Stat_t
		exists := unix.Lstat(to, &existing) == nil
		if exists && !(mode == unix.S_IFDIR && existing.Mode&unix.S_IFMT == unix.S_IFDIR) {
			if err := os.RemoveAll(to); err != nil {
				return err
			}
			exists = false
		}
		switch mode {
		case unix.S_IFDIR:
			if v, err := getxattr(p, "user.overlay.opaque"); err == nil && v == "y" && exists {
				entries, _ := os.ReadDir(to)
				for _, e := range entries {
					if err := os.RemoveAll(filepath.Join(to, e.Name())); err != nil {
						return err
					}
				}
			}
			if !exists {
				if err := unix.Mkdir(to, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, rel)
			return copyMeta(p, to, &st, false)
		case unix.S_IFREG:
			if st.Nlink > 1 {
				if first, ok := links[st.Ino]; ok {
					return unix.Link(first, to)
				}
				links[st.Ino] = to
			}
			if err := copyFile(p, to); err != nil {
				return err
			}
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
			return copyMeta(p, to, &st, true)
		case unix.S_IFIFO:
			if err := unix.Mkfifo(to, 0o600); err != nil {
				return err
			}
		default:
			return nil // devices never reach a layer (see package layer)
		}
		return copyMeta(p, to, &st, false)
	})
	if err != nil {
		return err
	}
	// Directory modes and times last, as the unpacker does.
	for i := len(dirs) - 1; i >= 0; i-- {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(src, dirs[i]), &st); err != nil {
			return err
		}
		if err := unix.Chmod(filepath.Join(dst, dirs[i]), st.Mode&0o7777); err != nil {
			return err
		}
		setTimes(filepath.Join(dst, dirs[i]), &st, false)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// copyMeta gives dst src's owner, mode (not for directories: see
// copyLayer), xattrs and times.
func copyMeta(src, dst string, st *unix.Stat_t, symlink bool) error {
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	if symlink {
		setTimes(dst, st, true)
		return nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return err
		}
	}
	if err := copyXattrs(src, dst); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		setTimes(dst, st, false)
	}
	return nil
}

func copyXattrs(src, dst string) error {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(src, buf)
	if err != nil || n == 0 {
		return nil
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "user.overlay.opaque" {
			continue
		}
		v, err := getxattr(src, name)
		if err != nil {
			continue
		}
		if err := unix.Lsetxattr(dst, name, []byte(v), 0); err != nil && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("xattr %s of %s: %w", name, dst, err)
		}
	}
	return nil
}

func getxattr(p, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func setTimes(p string, st *unix.Stat_t, symlink bool) {
	flags := 0
	if symlink {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{st.Atim, st.Mtim}, flags)
}
