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

	"github.com/rless/rless/internal/diskfault"
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
	// Owner says whose the storage is: 0 (the default), the process that
	// makes it, which removes it when the container ends (if that process
	// dies first, RemoveStaleContainers does); -1, no process's: it stays
	// until removed (a container kept until it is deleted).
	Owner int
}

// CreateContainer makes the storage of container id on image img.
func (s *Store) CreateContainer(id string, img Image) (*Container, error) {
	c := s.NewContainer(id, img)
	return c, s.MakeContainer(c)
}

// NewContainer returns where the storage of container id on image img
// goes, without making it (see MakeContainer).
func (s *Store) NewContainer(id string, img Image) *Container {
	dir := filepath.Join(s.root, "containers", id)
	c := &Container{ID: id, Dir: dir, Rootfs: filepath.Join(dir, "merged")}
	c.Layout = overlay.Layout{Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	for i := len(img.Layers) - 1; i >= 0; i-- {
		c.Layout.Lower = append(c.Layout.Lower, s.DiffDir(img.Layers[i]))
	}
	if len(c.Layout.Lower) == 0 {
		// overlayfs wants a lower layer: an image of no layers gets an
		// empty one.
		c.Layout.Lower = []string{filepath.Join(dir, "empty")}
	}
	return c
}

// MakeContainer makes the storage NewContainer described.
func (s *Store) MakeContainer(c *Container) error {
	// Whose it is comes first: the storage is made in a directory whose
	// name holds this process's pid, and renamed into place with its
	// owner file inside. Whatever a killed rless leaves says whose it was,
	// for RemoveStaleContainers.
	tmp := filepath.Join(filepath.Dir(c.Dir), tmpPrefix+strconv.Itoa(os.Getpid())+"-"+filepath.Base(c.Dir))
	err := os.MkdirAll(tmp, 0o755)
	if err == nil {
		owner := os.Getpid()
		if c.Owner < 0 {
			owner = 0
		}
		err = os.WriteFile(filepath.Join(tmp, ownerFile), []byte(strconv.Itoa(owner)), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, c.Dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return c.storageError(err)
	}
	dirs := []string{c.Layout.Upper, c.Layout.Work, c.Rootfs}
	if empty := filepath.Join(c.Dir, "empty"); c.Layout.Lower[0] == empty {
		dirs = append(dirs, empty)
	}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(c.Dir)
			return c.storageError(err)
		}
	}
	return nil
}

// storageError is err, met making the storage of container c: a full
// (or read-only) filesystem named as such (see WriteError), else err with
// context.
func (c *Container) storageError(err error) error {
	if f := diskfault.Check(err, containerWhat, filepath.Dir(c.Dir)); f != nil {
		return f
	}
	return fmt.Errorf("create container storage: %w", err)
}

// WriteError returns err, met writing c's storage or the files rless puts
// there, as a *diskfault.Fault naming the containers directory ("no space
// left on device: writing a container's storage into DIR") when the
// filesystem failed (full, over quota, read-only), else unchanged.
func (c *Container) WriteError(err error) error {
	return diskfault.Wrap(err, containerWhat, filepath.Dir(c.Dir))
}

// containerWhat is what a diskfault.Fault of container storage says was
// being written.
const containerWhat = "a container's storage"

// ownerFile, in a container's storage, holds the pid of the rless process
// that runs the container and removes the storage when it ends.
const ownerFile = "owner.pid"

// tmpPrefix starts the name of container storage being made:
// .tmp-<pid>-<id>, where pid is the rless process making it.
const tmpPrefix = ".tmp-"

// ownerOf returns the pid of the rless process that owns entry name of
// the containers directory, or 0 if it says none.
func (s *Store) ownerOf(name string) int {
	if rest, ok := strings.CutPrefix(name, tmpPrefix); ok {
		pid, _, _ := strings.Cut(rest, "-")
		n, _ := strconv.Atoi(pid)
		return n
	}
	data, err := os.ReadFile(filepath.Join(s.root, "containers", name, ownerFile))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(string(data))
	return n
}

// RemoveStaleContainers removes the storage of containers whose rless
// process is gone (it was killed before it could remove it). Storage that
// cannot be removed outside the user namespace is left for later.
func (s *Store) RemoveStaleContainers() {
	entries, err := os.ReadDir(filepath.Join(s.root, "containers"))
	if err != nil {
		return
	}
	for _, e := range entries {
		pid := s.ownerOf(e.Name())
		if pid <= 0 || pid == os.Getpid() || proc.Alive(pid) {
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
	// overlayfs leaves work/work without permissions: spare removeAll its
	// second try in the common case.
	_ = os.Chmod(filepath.Join(dir, "work", "work"), 0o700)
	if err := removeAll(dir); err != nil {
		return fmt.Errorf("remove container storage: %w", err)
	}
	return nil
}

// removeAll removes path and what it holds. Directories made without write
// permission (overlayfs leaves work/work so, a container may make others)
// get their owner's rights back for a second try.
func removeAll(path string) error {
	if os.RemoveAll(path) == nil {
		return nil
	}
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}

// retiredPrefix starts the name of a retired container's entry in the
// trash.
const retiredPrefix = "ctr-"

// RetireContainer removes the storage of container id at the cost of one
// rename, when the container wrote nothing to its root (its writable layer
// holds at most the empty mount points of the /etc files rless binds in):
// the skeleton goes to the trash, which EmptyTrash clears later (rless does
// it in the background of its next run). It reports whether it did; a
// container that wrote files is left for RemoveContainer, so that their
// space comes back at once.
func (s *Store) RetireContainer(id string) bool {
	dir := filepath.Join(s.root, "containers", id)
	if !pristine(filepath.Join(dir, "upper")) {
		return false
	}
	return os.Rename(dir, filepath.Join(s.root, "trash", retiredPrefix+id)) == nil
}

// pristine reports whether the writable layer upper holds nothing but
// empty mount points of /etc files, in directories of this process's user
// (so that EmptyTrash can remove them: in a layout whose container root is
// a subordinate id, such as keep-id's, they are not, and the storage is
// removed inside the user namespace instead).
func pristine(upper string) bool {
	top, err := readNames(upper)
	if err != nil || len(top) > 1 || len(top) == 1 && top[0] != "etc" || !ours(upper) {
		return false
	}
	if len(top) == 0 {
		return true
	}
	etc, err := readNames(filepath.Join(upper, "etc"))
	if err != nil || len(etc) > 4 || !ours(filepath.Join(upper, "etc")) {
		return false
	}
	for _, name := range etc {
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(upper, "etc", name), &st)
		mountPoint := name == "hostname" || name == "hosts" || name == "resolv.conf" || name == "passwd"
		if err != nil || !mountPoint || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
			return false
		}
	}
	return true
}

// ours reports whether directory dir belongs to this process's user.
func ours(dir string) bool {
	var st unix.Stat_t
	return unix.Lstat(dir, &st) == nil && int(st.Uid) == os.Getuid()
}

// readNames returns the names in directory dir (at most a few).
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(8)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return names, err
}

// EmptyTrash removes what the trash holds (retired containers, and what
// killed removers left), as far as this process may: files of subordinate
// ids stay for a remover inside the user namespace.
func (s *Store) EmptyTrash() {
	trash := filepath.Join(s.root, "trash")
	entries, _ := os.ReadDir(trash)
	for _, e := range entries {
		_ = removeAll(filepath.Join(trash, e.Name()))
	}
}

// ImageConfig is what running an image takes from its configuration: the
// "config" object of the OCI image configuration, with the fields of
// image-spec's v1.ImageConfig. It is declared here, rather than taken from
// image-spec, because that package brings go-digest, whose initialisation
// (compiling its regular expressions) costs every start of rless, and so
// every container start, about 0.4 ms.
type ImageConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	ArgsEscaped  bool                `json:"ArgsEscaped,omitempty"`
}

// ImageConfig returns the configuration of image id (the "config" object
// of its configuration blob; see ReadConfig for the whole blob).
func (s *Store) ImageConfig(id string) (*ImageConfig, error) {
	blob, err := s.ReadConfig(id)
	if err != nil {
		return nil, err
	}
	var c struct {
		Config ImageConfig `json:"config"`
	}
	if err := json.Unmarshal(blob, &c); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", id, err)
	}
	return &c.Config, nil
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
