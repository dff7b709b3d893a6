package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/overlay"
	"golang.org/x/sys/unix"
)

// Container is the storage of a container made from an image: its
// writable layer and the mount point of its root, in containers/<id>.
type Container struct {
	ID     string
	Dir    string         // containers/<id>
	Rootfs string         // where the root is mounted
	Layout overlay.Layout // the image's layers under the writable layer
}

// CreateContainer makes the storage of container id on image img.
func (s *Store) CreateContainer(id string, img Image) (*Container, error) {
	dir := filepath.Join(s.root, "containers", id)
	c := &Container{ID: id, Dir: dir, Rootfs: filepath.Join(dir, "merged")}
	c.Layout = overlay.Layout{Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	for i := len(img.Layers) - 1; i >= 0; i-- {
		c.Layout.Lower = append(c.Layout.Lower, s.DiffDir(img.Layers[i]))
	}
	if len(c.Layout.Lower) == 0 {
		// overlayfs wants a lower layer: an image of no layers gets an
		// empty one.
		empty := filepath.Join(dir, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return nil, fmt.Errorf("create container storage: %w", err)
		}
		c.Layout.Lower = []string{empty}
	}
	for _, d := range []string{c.Layout.Upper, c.Layout.Work, c.Rootfs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create container storage: %w", err)
		}
	}
	// Whose it is: a killed rless leaves storage that RemoveStaleContainers
	// finds by this.
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, fmt.Errorf("create container storage: %w", err)
	}
	return c, nil
}

// ownerFile, in a container's storage, holds the pid of the rless process
// that runs the container and removes the storage when it ends.
const ownerFile = "owner.pid"

// RemoveStaleContainers removes the storage of containers whose rless
// process is gone (it was killed before it could remove it). Storage that
// cannot be removed outside the user namespace is left for later.
func (s *Store) RemoveStaleContainers() {
	entries, err := os.ReadDir(filepath.Join(s.root, "containers"))
	if err != nil {
		return
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(s.root, "containers", e.Name(), ownerFile))
		if err != nil {
			continue // being created
		}
		pid, err := strconv.Atoi(string(data))
		if err != nil || pid <= 0 || pid == os.Getpid() || proc.Alive(pid) {
			continue
		}
		_ = s.RemoveContainer(e.Name())
	}
}

// RemoveContainer removes the storage of container id. Files the container
// made as another user than root belong to subordinate ids: removing them
// fails outside the user namespace (the error wraps fs.ErrPermission), and
// the caller does it again inside.
func (s *Store) RemoveContainer(id string) error {
	dir := filepath.Join(s.root, "containers", id)
	// overlayfs leaves work/work without permissions.
	_ = os.Chmod(filepath.Join(dir, "work", "work"), 0o700)
	if err := os.RemoveAll(dir); err != nil {
		// Directories the container made without write permission:
		// give the owner back its rights and try once more.
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove container storage: %w", err)
		}
	}
	return nil
}

// ImageConfig returns the configuration of image id.
func (s *Store) ImageConfig(id string) (*v1.Image, error) {
	blob, err := s.ReadConfig(id)
	if err != nil {
		return nil, err
	}
	var c v1.Image
	if err := json.Unmarshal(blob, &c); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", id, err)
	}
	return &c, nil
}

// ReadImageFile returns the content of the regular file p (an absolute
// path in the image, at most 1 MiB) as the image's merged tree has it:
// from the top-most layer that has it, unless a layer above deletes it.
// Symlinks are not followed. A file that is not there gives an error
// wrapping fs.ErrNotExist.
func (s *Store) ReadImageFile(img Image, p string) ([]byte, error) {
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	for i := len(img.Layers) - 1; i >= 0; i-- {
		data, err := readLayerFile(s.DiffDir(img.Layers[i]), rel)
		if !errors.Is(err, unix.ENOENT) {
			if errors.Is(err, errWhiteout) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			return data, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
}

var errWhiteout = errors.New("deleted by a whiteout")

func readLayerFile(diff, rel string) ([]byte, error) {
	root, err := unix.Open(diff, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS}
	fd, err := unix.Openat2(root, rel, &how)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0:
		return nil, errWhiteout
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if len(data) > 1<<20 {
		return nil, errors.New("larger than 1 MiB")
	}
	return data, err
}
