package container

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/atomicfile"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/cgroups"
	"golang.org/x/sys/unix"
)

// DefaultRunRoot returns where rless keeps the state of running containers:
// $XDG_RUNTIME_DIR/rless, or /tmp/rless-$UID when XDG_RUNTIME_DIR is unset.
func DefaultRunRoot() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "rless")
	}
	return filepath.Join(os.TempDir(), "rless-"+strconv.Itoa(os.Getuid()))
}

// NewID returns a new random container id: 64 hexadecimal digits.
func NewID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ensureRunRoot creates dir (mode 0700) if needed and checks that it belongs
// to the caller and no one else can write to it, since a directory in /tmp
// could have been made by another user.
func ensureRunRoot(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create run root: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("run root: %w", err)
	}
	if int(st.Uid) != os.Getuid() || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o022 != 0 {
		return fmt.Errorf("run root %s must be a directory owned by uid %d and writable by it alone", dir, os.Getuid())
	}
	return nil
}

// bundle is a container's state directory: state.json (the OCI state) and
// init.spec (the spec, in the form the container's init reads: see
// encodeInitSpec, and List for other processes). There is no config.json:
// encoding a spec as JSON costs a fresh process about 2 ms of CPU, a tenth of
// a container start.
type bundle struct{ dir string }

// createBundle makes the state directory dir (in a run root, which it
// creates if needed) and writes there the spec for the container's init and
// the state of container id, whose first process is pid, as "creating".
// The directory is made as .tmp-<our pid>-<id> and renamed into place
// complete: whatever a killed rless leaves says whose it was (see
// removeStale).
func createBundle(dir string, is initSpec, id string, pid int) (*bundle, error) {
	if err := ensureRunRoot(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	b := &bundle{dir: dir}
	tmp := filepath.Join(filepath.Dir(dir), tmpPrefix+strconv.Itoa(os.Getpid())+"-"+filepath.Base(dir))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	err := os.WriteFile(filepath.Join(tmp, initSpecFile), encodeInitSpec(is), 0o600)
	if err == nil {
		err = b.writeState(tmp, id, string(specs.StateCreating), pid)
	}
	if err == nil {
		err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			err = fmt.Errorf("container %s exists already", id)
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	return b, nil
}

// tmpPrefix starts the name of a state directory being made:
// .tmp-<pid>-<id>, where pid is the rless process making it.
const tmpPrefix = ".tmp-"

// setState records the OCI state of the container.
func (b *bundle) setState(id, status string, pid int) error {
	return b.writeState(b.dir, id, status, pid)
}

// writeState writes the OCI state of the container to the state.json of
// directory dir (the bundle's, or the one being made for it).
func (b *bundle) writeState(dir, id, status string, pid int) error {
	return writeJSON(filepath.Join(dir, "state.json"), specs.State{
		Version: specs.Version, ID: id, Status: specs.ContainerState(status), Pid: pid, Bundle: b.dir,
		Annotations: map[string]string{annotationMonitor: strconv.Itoa(os.Getpid())},
	})
}

func (b *bundle) remove() error { return os.RemoveAll(b.dir) }

// writeJSON writes v to path atomically (see atomicfile).
func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// readInitSpec reads the spec the parent encoded for the container's init
// in the state directory dir (see encodeInitSpec).
func readInitSpec(dir string) (initSpec, error) {
	data, err := os.ReadFile(filepath.Join(dir, initSpecFile))
	if err != nil {
		return initSpec{}, err
	}
	return decodeInitSpec(data)
}

// annotationMonitor, in state.json, is the pid of the rless process that
// runs the container and removes its state directory when it ends.
const annotationMonitor = "io.rless.monitor.pid"

// monitorOf returns the pid of the rless process that runs the container
// of state directory dir, from its state.json.
func monitorOf(dir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return 0, err
	}
	var st specs.State
	if err := json.Unmarshal(data, &st); err != nil {
		return 0, err
	}
	return strconv.Atoi(st.Annotations[annotationMonitor])
}

// removeStale removes the state directories in runRoot whose rless process
// is gone: it was killed before it could clean up (its container died with
// it), or while it made the directory.
func removeStale(runRoot string) {
	entries, err := os.ReadDir(runRoot)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(runRoot, e.Name())
		monitor, err := 0, error(nil)
		if rest, ok := strings.CutPrefix(e.Name(), tmpPrefix); ok {
			pid, _, _ := strings.Cut(rest, "-")
			monitor, err = strconv.Atoi(pid)
		} else if !strings.HasPrefix(e.Name(), ".") {
			monitor, err = monitorOf(dir)
		}
		if err != nil || monitor <= 0 || monitor == os.Getpid() || proc.Alive(monitor) {
			continue
		}
		slog.Debug("removing stale state", "dir", dir, "monitor", monitor)
		os.RemoveAll(dir)
		if d := cgroups.Detect(); d.Dir != "" && !strings.HasPrefix(e.Name(), ".") {
			_ = cgroups.Remove(filepath.Join(d.Dir, "rless.slice", e.Name()))
		}
	}
}

// AnnotationImage, in a container's spec, is the ID of the image the
// container runs; the store refuses to remove such an image.
const AnnotationImage = "io.rless.image.id"

// UsesImage reports whether a container in runRoot whose rless is alive
// runs image id (see AnnotationImage).
func UsesImage(runRoot, id string) bool {
	return anyLive(runRoot, func(s *specs.Spec) bool { return s.Annotations[AnnotationImage] == id })
}

// MountsPath reports whether a container in runRoot whose rless is alive
// has a mount of the host path p (a volume's directory, say).
func MountsPath(runRoot, p string) bool {
	return anyLive(runRoot, func(s *specs.Spec) bool {
		for _, m := range s.Mounts {
			if m.Source == p {
				return true
			}
		}
		return false
	})
}

// anyLive reports whether match holds for the spec of a container of
// runRoot that is being created or whose rless is alive.
func anyLive(runRoot string, match func(*specs.Spec) bool) bool {
	live, _ := List(runRoot)
	for _, c := range live {
		if match(c.Spec) {
			return true
		}
	}
	return false
}

// Live is a container of a run root that is being created or whose rless
// is alive.
type Live struct {
	ID   string
	Spec *specs.Spec // its spec: the parts its init reads (see initSpec)
}

// List returns the containers of runRoot that are being created or whose
// rless is alive, in the order of their ids.
func List(runRoot string) ([]Live, error) {
	entries, err := os.ReadDir(runRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Live
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(runRoot, e.Name())
		pid, err := monitorOf(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		is, specErr := readInitSpec(dir)
		if specErr != nil {
			continue
		}
		// A state without a monitor's pid counts as alive.
		if err != nil || proc.Alive(pid) {
			out = append(out, Live{ID: e.Name(), Spec: is.spec})
		}
	}
	return out, nil
}
