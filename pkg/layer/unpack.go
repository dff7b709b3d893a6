package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Whiteout naming of the OCI layer format.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	// OpaqueXattr marks an opaque directory for overlayfs mounted with
	// userxattr.
	OpaqueXattr = "user.overlay.opaque"
)

// DefaultMaxSparseSize is the largest logical size of a sparse file
// accepted by default.
const DefaultMaxSparseSize = 1 << 30

// Options tune Unpack.
type Options struct {
	// Warn receives a message for each neutralised entry. Nil drops them.
	Warn func(msg string)
	// MaxSparseSize bounds the logical size of sparse entries; 0 means
	// DefaultMaxSparseSize.
	MaxSparseSize int64
}

// Stats says what Unpack did.
type Stats struct {
	Entries int   // tar entries read
	Bytes   int64 // bytes of regular file content written
	// Unowned counts entries whose owner the namespace does not map (all
	// but root's without a subordinate range); they keep the caller's.
	Unowned int
	// Neutralised counts entries changed or skipped with a warning.
	Neutralised int
}

// EntryError is a refused entry: the layer must not be used.
type EntryError struct {
	Name string // the entry's name in the tar stream
	Err  error
}

func (e *EntryError) Error() string { return fmt.Sprintf("layer entry %q: %v", e.Name, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// ErrDuplicate is wrapped by the error of an entry whose path an earlier
// entry of the layer named.
var ErrDuplicate = errors.New("duplicate entry: a layer names each path once")

// ErrEscape is wrapped by the errors of entries naming paths outside the
// layer.
var ErrEscape = errors.New("path leads outside the layer")

// Unpack reads the tar stream r and writes its entries below dir, which
// should be empty. It stops at the first refused entry with an
// *EntryError, or at a broken stream; dir is then partly written and the
// caller discards it.
func Unpack(ctx context.Context, dir string, r io.Reader, opts Options) (Stats, error) {
	if opts.MaxSparseSize == 0 {
		opts.MaxSparseSize = DefaultMaxSparseSize
	}
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, fmt.Errorf("open layer directory %s: %w", dir, &os.PathError{Op: "open", Path: dir, Err: err})
	}
	u := &unpacker{root: root, opts: opts, cacheFD: -1, seen: map[string]bool{}}
	defer u.close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return u.stats, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return u.stats, fmt.Errorf("read layer: %w", err)
		}
		u.stats.Entries++
		if err := u.entry(hdr, tr); err != nil {
			var ee *EntryError
			if errors.As(err, &ee) {
				return u.stats, err
			}
			return u.stats, &EntryError{Name: hdr.Name, Err: err}
		}
	}
	// Directory modes and times last: their children were created with
	// the directories writable, and creating them changed the times. The
	// last entry of a directory wins; a directory since replaced by a
	// symlink is skipped.
	done := map[string]bool{}
	for _, d := range slices.Backward(u.dirs) {
		if !done[d.path] {
			done[d.path] = true
			if err := u.finishDir(d); err != nil {
				return u.stats, &EntryError{Name: d.hdr.Name, Err: err}
			}
		}
	}
	return u.stats, nil
}

type dirEntry struct {
	path string
	hdr  *tar.Header
	ino  uint64 // the directory made for it
}

type unpacker struct {
	root  int
	opts  Options
	stats Stats
	dirs  []dirEntry      // directory entries, finished at the end
	seen  map[string]bool // cleaned names of the entries so far
	// the last parent directory opened, for runs of entries in one
	// directory; dropped whenever something is removed.
	cacheDir string
	cacheFD  int
	cacheVia bool // cacheDir was reached through a symlink
	// the last entry warned about a symlinked parent (once per entry)
	symlinkWarned string
}

func (u *unpacker) close() {
	u.dropCache()
	unix.Close(u.root)
}

func (u *unpacker) dropCache() {
	if u.cacheFD >= 0 {
		unix.Close(u.cacheFD)
	}
	u.cacheDir, u.cacheFD = "", -1
}

func (u *unpacker) warn(name, format string, args ...any) {
	u.stats.Neutralised++
	if u.opts.Warn != nil {
		u.opts.Warn(fmt.Sprintf("layer entry %q: ", name) + fmt.Sprintf(format, args...))
	}
}

// clean turns an entry name into a path relative to the layer root, or
// refuses it. Absolute names are made relative with a warning.
func (u *unpacker) clean(entry, name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", &EntryError{entry, errors.New("NUL in path")}
	}
	p := path.Clean(name)
	if strings.HasPrefix(p, "/") {
		u.warn(entry, "absolute path %q taken as relative to the layer", name)
		p = path.Clean(strings.TrimLeft(p, "/"))
		if p == "" {
			p = "."
		}
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", &EntryError{entry, fmt.Errorf("%q: %w", name, ErrEscape)}
	}
	return p, nil
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	// A path named twice is refused, as tar-split (and so podman) refuses
	// it: the layer could not be given back as it came.
	seen := filepath.Clean(hdr.Name)
	if u.seen[seen] {
		return &EntryError{hdr.Name, ErrDuplicate}
	}
	u.seen[seen] = true
	p, err := u.clean(hdr.Name, hdr.Name)
	if err != nil {
		return err
	}
	if p == "." {
		return nil // the layer root keeps the store's metadata
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	parent, err := u.openDir(hdr.Name, dir)
	if err != nil {
		return err
	}
	if base == opaqueMarker {
		// parent is an O_PATH descriptor: set the xattr through its link.
		if err := unix.Setxattr(fmt.Sprintf("/proc/self/fd/%d", parent), OpaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("mark directory opaque: %w", err)
		}
		return nil
	}
	if name, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
		if name == "" || name == "." || name == ".." {
			return &EntryError{hdr.Name, errors.New("bad whiteout name")}
		}
		if err := u.clear(parent, hdr.Name, name, false); err != nil {
			return err
		}
		if err := unix.Mknodat(parent, name, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("create whiteout: %w", err)
		}
		return nil
	}

	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		var st unix.Stat_t
		err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := u.clear(parent, hdr.Name, base, true); err != nil {
				return err
			}
			if err := unix.Mkdirat(parent, base, 0o700); err != nil {
				return fmt.Errorf("create directory: %w", err)
			}
		}
		if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("stat directory: %w", err)
		}
		u.dirs = append(u.dirs, dirEntry{p, hdr, st.Ino})
		u.chown(parent, base, hdr)
		return nil
	case tar.TypeReg, tar.TypeGNUSparse:
		if isSparse(hdr) && hdr.Size > u.opts.MaxSparseSize {
			return &EntryError{hdr.Name, fmt.Errorf("sparse file of %d bytes is larger than the limit of %d", hdr.Size, u.opts.MaxSparseSize)}
		}
		if err := u.clear(parent, hdr.Name, base, true); err != nil {
			return err
		}
		fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create file: %w", err)
		}
		f := os.NewFile(uintptr(fd), base)
		n, err := copySparse(f, r, hdr.Size)
		u.stats.Bytes += n
		if err == nil {
			err = u.finishFD(fd, hdr, mode)
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err == nil {
			u.setTimes(parent, base, hdr)
		}
		return err
	case tar.TypeSymlink:
		if strings.IndexByte(hdr.Linkname, 0) >= 0 || hdr.Linkname == "" {
			return &EntryError{hdr.Name, errors.New("bad symlink target")}
		}
		if err := u.clear(parent, hdr.Name, base, true); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, parent, base); err != nil {
			return fmt.Errorf("create symlink: %w", err)
		}
		return u.finish(parent, base, hdr, 0, true)
	case tar.TypeLink:
		target, err := u.clean(hdr.Name, hdr.Linkname)
		if err != nil {
			return err
		}
		if target == "." {
			return &EntryError{hdr.Name, errors.New("hardlink to the layer root")}
		}
		tdir, tbase := path.Split(target)
		tdir = strings.TrimSuffix(tdir, "/")
		if tdir == "" {
			tdir = "."
		}
		tfd, err := u.openTarget(hdr.Name, tdir)
		if err != nil {
			return err
		}
		defer unix.Close(tfd)
		var st unix.Stat_t
		if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &EntryError{hdr.Name, fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return &EntryError{hdr.Name, fmt.Errorf("hardlink target %q is a directory", hdr.Linkname)}
		}
		if tdir == dir && tbase == base {
			return nil // a link to itself: nothing to do
		}
		if err := u.clear(parent, hdr.Name, base, true); err != nil {
			return err
		}
		if err := unix.Linkat(tfd, tbase, parent, base, 0); err != nil {
			return fmt.Errorf("create hardlink: %w", err)
		}
		return nil
	case tar.TypeFifo:
		if err := u.clear(parent, hdr.Name, base, true); err != nil {
			return err
		}
		if err := unix.Mknodat(parent, base, unix.S_IFIFO|0o600, 0); err != nil {
			return fmt.Errorf("create fifo: %w", err)
		}
		return u.finish(parent, base, hdr, mode, false)
	case tar.TypeChar, tar.TypeBlock:
		u.warn(hdr.Name, "device node %d:%d skipped: devices come from the runtime, not from images", hdr.Devmajor, hdr.Devminor)
		return nil
	default:
		u.warn(hdr.Name, "entry of type %q skipped", hdr.Typeflag)
		return nil
	}
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// clear removes name from parent when an entry replaces it; a directory
// replaced by a directory stays. Duplicates are warned about.
func (u *unpacker) clear(parent int, entry, name string, warn bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("stat existing entry: %w", err)
	}
	if warn {
		u.warn(entry, "replaces what an earlier entry made at the same place")
	}
	// The cached descriptor is parent's, which stays valid.
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.RemoveAll(fmt.Sprintf("/proc/self/fd/%d/%s", parent, name)); err != nil {
			return fmt.Errorf("replace directory: %w", err)
		}
		return nil
	}
	if err := unix.Unlinkat(parent, name, 0); err != nil {
		return fmt.Errorf("replace existing entry: %w", err)
	}
	return nil
}

// resolve opens dir (relative to the root) inside the root. A path that
// passes through a symlink is resolved inside the root too, with a warning.
func (u *unpacker) resolve(entry, dir string) (int, error) {
	fd, _, err := u.resolveVia(entry, dir)
	return fd, err
}

// resolveVia is resolve that also reports whether dir was reached through
// a symlink.
func (u *unpacker) resolveVia(entry, dir string) (int, bool, error) {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	}
	fd, err := unix.Openat2(u.root, dir, &how)
	if !errors.Is(err, unix.ELOOP) {
		return fd, false, err
	}
	how.Resolve &^= unix.RESOLVE_NO_SYMLINKS
	fd, err = unix.Openat2(u.root, dir, &how)
	if err == nil {
		u.warnSymlink(entry, dir)
	}
	return fd, true, err
}

func (u *unpacker) warnSymlink(entry, dir string) {
	if u.symlinkWarned != entry {
		u.symlinkWarned = entry
		u.warn(entry, "parent %q is reached through a symlink; resolved inside the layer", dir)
	}
}

// openDir returns a descriptor of dir, creating missing directories (as
// tar does, mode 0755) inside the root. The descriptor is cached.
func (u *unpacker) openDir(entry, dir string) (int, error) {
	if u.cacheFD >= 0 && u.cacheDir == dir {
		if u.cacheVia {
			u.warnSymlink(entry, dir)
		}
		return u.cacheFD, nil
	}
	fd, via, err := u.resolveVia(entry, dir)
	if errors.Is(err, unix.ENOENT) {
		fd, err = u.mkdirAll(entry, dir)
		via = u.symlinkWarned == entry
	}
	if err != nil {
		return -1, fmt.Errorf("open parent directory %q: %w", dir, err)
	}
	u.dropCache()
	u.cacheDir, u.cacheFD, u.cacheVia = dir, fd, via
	return fd, nil
}

// openTarget opens the directory of a hardlink target; it must exist.
func (u *unpacker) openTarget(entry, dir string) (int, error) {
	fd, err := u.resolve(entry, dir)
	if err != nil {
		return -1, &EntryError{entry, fmt.Errorf("hardlink target directory %q: %w", dir, err)}
	}
	return fd, nil
}

func (u *unpacker) mkdirAll(entry, dir string) (int, error) {
	parent := "."
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		parent = dir[:i]
	}
	pfd, err := u.resolve(entry, parent)
	if errors.Is(err, unix.ENOENT) && parent != "." {
		pfd, err = u.mkdirAll(entry, parent)
	}
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, path.Base(dir), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return u.resolve(entry, dir)
}

// finish applies owner, mode, xattrs and (but for directories) times to
// name in parent.
func (u *unpacker) finish(parent int, name string, hdr *tar.Header, mode uint32, symlink bool) error {
	u.chown(parent, name, hdr)
	if !symlink {
		if err := unix.Fchmodat(parent, name, mode, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		if len(xattrs(hdr)) > 0 {
			fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
			if err != nil {
				return fmt.Errorf("open for xattrs: %w", err)
			}
			defer unix.Close(fd)
			if err := u.applyXattrs(fd, hdr, false); err != nil {
				return err
			}
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		u.setTimes(parent, name, hdr)
	}
	return nil
}

// finishFD is finish for an open regular file.
func (u *unpacker) finishFD(fd int, hdr *tar.Header, mode uint32) error {
	if unix.Fchown(fd, hdr.Uid, hdr.Gid) != nil {
		u.stats.Unowned++
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return u.applyXattrs(fd, hdr, true)
}

func (u *unpacker) chown(parent int, name string, hdr *tar.Header) {
	err := unix.Fchownat(parent, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		u.stats.Unowned++
	}
}

func xattrs(hdr *tar.Header) map[string]string {
	var m map[string]string
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if m == nil {
				m = map[string]string{}
			}
			m[name] = v
		}
	}
	return m
}

// applyXattrs sets the entry's user.* xattrs and file capabilities. Others
// (trusted.*, security.* but capabilities) cannot be set in a user
// namespace, and overlay's own must not come from an image: they are
// dropped with a warning.
func (u *unpacker) applyXattrs(fd int, hdr *tar.Header, userOK bool) error {
	for name, value := range xattrs(hdr) {
		switch {
		case strings.HasPrefix(name, "user.overlay.") || strings.HasPrefix(name, "trusted.overlay."):
			u.warn(hdr.Name, "xattr %s dropped: it would change how overlayfs reads the layer", name)
			continue
		case strings.HasPrefix(name, "user.") && !userOK:
			u.warn(hdr.Name, "xattr %s dropped: user xattrs exist on files and directories only", name)
			continue
		case strings.HasPrefix(name, "user.") || name == "security.capability":
		default:
			u.warn(hdr.Name, "xattr %s dropped: it cannot be set in a user namespace", name)
			continue
		}
		err := unix.Fsetxattr(fd, name, []byte(value), 0)
		if err != nil && name == "security.capability" && errors.Is(err, unix.EPERM) {
			u.warn(hdr.Name, "file capabilities dropped: %v", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

// finishDir applies a directory entry's mode, xattrs and times to the
// directory made for it, unless a later entry replaced or removed it.
func (u *unpacker) finishDir(d dirEntry) error {
	hdr := d.hdr
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	fd, err := unix.Openat2(u.root, d.path, &how)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Ino != d.ino {
		return nil // not the directory this entry made
	}
	if err := u.applyXattrs(fd, hdr, true); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.AccessTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if hdr.AccessTime.IsZero() {
		ts[0] = ts[1]
	}
	_ = unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
	return nil
}

func (u *unpacker) setTimes(parent int, name string, hdr *tar.Header) {
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.AccessTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if hdr.AccessTime.IsZero() {
		ts[0] = ts[1]
	}
	_ = unix.UtimesNanoAt(parent, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// copySparse copies size bytes from r to f, seeking over blocks of zeros
// so that sparse files stay sparse.
func copySparse(f *os.File, r io.Reader, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for n < size {
		chunk := buf[:min(int64(len(buf)), size-n)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return n, fmt.Errorf("read content: %w", err)
		}
		if allZero(chunk) {
			if _, err := f.Seek(int64(len(chunk)), io.SeekCurrent); err != nil {
				return n, err
			}
		} else if _, err := f.Write(chunk); err != nil {
			return n, fmt.Errorf("write content: %w", err)
		}
		n += int64(len(chunk))
	}
	if err := f.Truncate(size); err != nil {
		return n, fmt.Errorf("write content: %w", err)
	}
	return n, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// String formats stats for logs.
func (s Stats) String() string {
	return strconv.Itoa(s.Entries) + " entries, " + strconv.FormatInt(s.Bytes, 10) + " bytes"
}
