package rootfs

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// inRoot is how every path inside the container root is resolved: symlinks
// are followed as if the root were "/", and never out of it.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// open returns an O_PATH descriptor of p inside the root.
func (r *builder) open(p string) (int, error) {
	return unix.Openat2(r.rootFD, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: inRoot})
}

// openOrCreate returns an O_PATH descriptor of p inside the root, creating
// it (and its parents) as a directory when dir is true or an empty file
// otherwise.
func (r *builder) openOrCreate(p string, dir bool) (int, error) {
	p = path.Clean("/" + p)
	fd, err := r.open(p)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, err := r.mkdirAll(path.Dir(p))
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	base := path.Base(p)
	if dir {
		err = unix.Mkdirat(parent, base, 0o755)
	} else {
		var f int
		f, err = unix.Openat(parent, base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
		}
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create %s: %w", p, err)
	}
	return r.open(p)
}

// mkdirAll creates directory p and its parents inside the root and returns
// an O_PATH descriptor of it.
func (r *builder) mkdirAll(p string) (int, error) {
	fd, err := r.open(p)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	cur, err := r.open("/")
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(strings.Trim(path.Clean(p), "/"), "/") {
		if c == "" {
			continue
		}
		next, err := unix.Openat2(cur, c, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: inRoot})
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(cur, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(cur)
				return -1, fmt.Errorf("mkdir %s in %s: %w", c, p, err)
			}
			next, err = unix.Openat2(cur, c, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: inRoot})
		}
		unix.Close(cur)
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", p, err)
		}
		cur = next
	}
	return cur, nil
}
