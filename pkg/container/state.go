package container

import (
	"cmp"
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
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/atomicfile"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/cgroups"
	"golang.org/x/sys/unix"
)

// DefaultRunRoot returns where rless keeps the state of containers:
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

// EnsureRunRoot creates dir (mode 0700) if needed and checks that it belongs
// to the caller and no one else can write to it, since a directory in /tmp
// could have been made by another user.
func EnsureRunRoot(dir string) error {
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

// Status is the state of a container, as the OCI runtime spec names them.
type Status string

// The states of a container.
const (
	// Creating: its namespaces and root are being made.
	Creating Status = Status(specs.StateCreating)
	// Created: made, its command not started yet (see Container.Start).
	Created Status = Status(specs.StateCreated)
	// Running: its command runs.
	Running Status = Status(specs.StateRunning)
	// Stopped: its processes are gone; its state stays until Delete.
	Stopped Status = Status(specs.StateStopped)
)

// State is what a container's state directory says of it.
type State struct {
	ID     string
	Status Status
	// Pid is the host pid of the container's first process (rless's
	// init, or the command with init disabled); 0 once stopped.
	Pid int
	// ExitCode is the command's exit status once stopped (128+N for
	// signal N), -1 when unknown (the command was PID 1 and the process
	// that created the container is gone).
	ExitCode int
	// Bundle is the OCI bundle directory the container was made from, or "".
	Bundle string
	// Created is when the container was made.
	Created time.Time
	// Dir is the container's state directory.
	Dir string
	// Spec is the container's spec: the parts its init reads.
	Spec *specs.Spec
	// Record is what the container's creator recorded of it (see
	// Config.Record), nil if nothing (yet).
	Record *Record
}

// Record is what a container's creator records of it for list and
// inspect; the container package keeps it with the container's state
// and does not interpret it.
type Record struct {
	Name    string            `json:"name,omitempty"`
	Image   string            `json:"image,omitempty"`    // the reference the container was made from
	ImageID string            `json:"image_id,omitempty"` // the image's ID
	Command []string          `json:"command,omitempty"`
	Created time.Time         `json:"created"`
	Ports   json.RawMessage   `json:"ports,omitempty"`
	Mounts  []specs.Mount     `json:"mounts,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Storage is the container's storage directory, if it has one.
	Storage string `json:"storage,omitempty"`
	// Extra is for the creator's own fields.
	Extra json.RawMessage `json:"extra,omitempty"`
}

// Files of a state directory.
const (
	stateFile  = "state.json"  // the OCI state, with rless's annotations
	recordFile = "record.json" // Config.Record
	exitFile   = "exit"        // the command's exit status, written when it ends
	startFifo  = "start.fifo"  // the barrier of a created container (see Start)
)

// Annotations of state.json.
const (
	// annotationCreator is the pid of the process that created the
	// container.
	annotationCreator = "io.rless.creator.pid"
	// annotationStartTime is the start time of the container's first
	// process (field 22 of /proc/PID/stat): with the pid, it names the
	// process for good.
	annotationStartTime = "io.rless.pid.start"
	// annotationAutoRemove is "true" when the creator deletes the
	// container as it ends (a foreground run): one whose creator and
	// processes are gone is removed by the next rless.
	annotationAutoRemove = "io.rless.autoremove"
	// annotationCreated is the time of creation, RFC 3339.
	annotationCreated = "io.rless.created"
)

// stateDir is a container's state directory: state.json (the OCI state),
// init.spec (the spec, in the form the container's init reads: see
// encodeInitSpec), record.json, exit and start.fifo. There is no
// config.json: encoding a spec as JSON costs a fresh process about 2 ms of
// CPU, a tenth of a container start.
type stateDir struct {
	dir        string
	id         string
	bundle     string
	autoRemove bool
	created    time.Time
	// recording, if not nil, is closed once record.json is written.
	recording chan struct{}
	// startTime is the start time of process startPid (see write).
	startPid  int
	startTime uint64
	// creator is the pid of the process that created the container, for
	// a loaded handle's writes (0: this process).
	creator int
	// owner, if not nil, is the uid and gid the directory is given to:
	// the container's root, where that is not this process's uid (which,
	// as root of its user namespace, still reaches it).
	owner *[2]int
}

// chownTree gives directory dir and the files in it to uid and gid.
func chownTree(dir string, uid, gid int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Lchown(filepath.Join(dir, e.Name()), uid, gid); err != nil {
			return err
		}
	}
	return os.Lchown(dir, uid, gid)
}

// tmpPrefix starts the name of a state directory being made:
// .tmp-<pid>-<id>, where pid is the rless process making it.
const tmpPrefix = ".tmp-"

// create makes the state directory (in a run root, which it creates if
// needed) and writes there the spec for the container's init and the state
// of the container, whose first process is pid, as "creating", and, with
// barrier, the fifo Start opens. The directory is made as
// .tmp-<our pid>-<id> and renamed into place complete: whatever a killed
// rless leaves says whose it was (see removeStale).
func (d *stateDir) create(is initSpec, pid int, barrier bool) error {
	if err := EnsureRunRoot(filepath.Dir(d.dir)); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(d.dir), tmpPrefix+strconv.Itoa(os.Getpid())+"-"+filepath.Base(d.dir))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	err := os.WriteFile(filepath.Join(tmp, initSpecFile), encodeInitSpec(is), 0o600)
	if err == nil && barrier {
		err = unix.Mkfifo(filepath.Join(tmp, startFifo), 0o600)
	}
	if err == nil {
		err = d.write(tmp, Creating, pid)
	}
	if err == nil && d.owner != nil {
		err = chownTree(tmp, d.owner[0], d.owner[1])
	}
	if err == nil {
		err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, d.dir, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			err = fmt.Errorf("container %s exists already", d.id)
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}

// setState records the container's status.
func (d *stateDir) setState(status Status, pid int) error {
	return d.write(d.dir, status, pid)
}

// write writes state.json in directory dir (the state directory, or the
// one being made for it).
func (d *stateDir) write(dir string, status Status, pid int) error {
	a := map[string]string{
		annotationCreator: strconv.Itoa(cmp.Or(d.creator, os.Getpid())),
		annotationCreated: d.created.Format(time.RFC3339Nano),
	}
	if pid > 0 {
		if d.startPid != pid {
			// Read once: the pid names the same process from then on.
			if st, err := proc.StartTime(pid); err == nil {
				d.startPid, d.startTime = pid, st
			}
		}
		if d.startPid == pid {
			a[annotationStartTime] = strconv.FormatUint(d.startTime, 10)
		}
	}
	if d.autoRemove {
		a[annotationAutoRemove] = "true"
	}
	return writeJSON(filepath.Join(dir, stateFile), specs.State{
		Version: specs.Version, ID: d.id, Status: specs.ContainerState(status), Pid: pid, Bundle: d.bundle,
		Annotations: a,
	})
}

// remove removes the state directory. It is renamed away first (as a
// .tmp-<our pid>- directory, which removeStale removes should this
// process die meanwhile): another process's handle of the container may
// still be recording the container's end in it, and what it writes then
// fails rather than fills a directory being removed.
func (d *stateDir) remove() error {
	if d.recording != nil {
		<-d.recording
	}
	gone := filepath.Join(filepath.Dir(d.dir), tmpPrefix+strconv.Itoa(os.Getpid())+"-"+filepath.Base(d.dir))
	if err := os.Rename(d.dir, gone); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(gone)
}

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

// rawState is state.json as read, with what its annotations say.
type rawState struct {
	specs.State
	creator    int
	startTime  uint64
	autoRemove bool
	created    time.Time
}

func readRawState(dir string) (rawState, error) {
	var st rawState
	if err := atomicfile.ReadJSON(filepath.Join(dir, stateFile), &st.State); err != nil {
		return st, err
	}
	st.creator, _ = strconv.Atoi(st.Annotations[annotationCreator])
	st.startTime, _ = strconv.ParseUint(st.Annotations[annotationStartTime], 10, 64)
	st.autoRemove = st.Annotations[annotationAutoRemove] == "true"
	st.created, _ = time.Parse(time.RFC3339Nano, st.Annotations[annotationCreated])
	return st, nil
}

// alive reports whether the container's first process still runs: the
// process of its pid, started when it was.
func (st rawState) alive() bool {
	return proc.Running(st.Pid, st.startTime)
}

// status is the container's status now: the recorded one, or stopped when
// its first process is gone.
func (st rawState) status() Status {
	s := Status(st.Status)
	switch s {
	case Creating:
		if !proc.Alive(st.creator) {
			return Stopped
		}
	case Created, Running:
		if !st.alive() {
			return Stopped
		}
	}
	return s
}

// readState reads the state of the container of state directory dir,
// with its spec when withSpec and its record when withRecord.
func readState(dir string, withSpec, withRecord bool) (State, error) {
	raw, err := readRawState(dir)
	if err != nil {
		return State{}, err
	}
	st := State{
		ID: raw.ID, Status: raw.status(), Pid: raw.Pid, ExitCode: -1,
		Bundle: raw.Bundle, Created: raw.created, Dir: dir,
	}
	if st.Status == Stopped {
		st.Pid = 0
		st.ExitCode = readExit(dir)
	}
	if withSpec {
		if is, err := readInitSpec(dir); err == nil {
			st.Spec = is.spec
		}
	}
	if !withRecord {
		return st, nil
	}
	var r Record
	if atomicfile.ReadJSON(filepath.Join(dir, recordFile), &r) == nil {
		st.Record = &r
	}
	return st, nil
}

// readExit returns the exit status recorded in state directory dir, or -1.
func readExit(dir string) int {
	data, err := atomicfile.Read(filepath.Join(dir, exitFile))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return -1
	}
	return n
}

// writeExit records the command's exit status in state directory dir,
// unless it is recorded already (by the container's init).
func writeExit(dir string, code int) {
	if readExit(dir) >= 0 {
		return
	}
	_ = atomicfile.Write(filepath.Join(dir, exitFile), []byte(strconv.Itoa(code)), 0o600)
}

// removeStale removes the state directories in runRoot that no one will
// delete: those of foreground containers (auto-removed) whose creator and
// processes are gone (it was killed before it could clean up), and those a
// killed rless left half-made.
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
		if rest, ok := strings.CutPrefix(e.Name(), tmpPrefix); ok {
			pid, _, _ := strings.Cut(rest, "-")
			if n, err := strconv.Atoi(pid); err == nil && n > 0 && n != os.Getpid() && !proc.Alive(n) {
				slog.Debug("removing half-made state", "dir", dir)
				os.RemoveAll(dir)
			}
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := readRawState(dir)
		if err != nil || !st.autoRemove || st.creator <= 0 || st.creator == os.Getpid() || proc.Alive(st.creator) || st.alive() {
			continue
		}
		slog.Debug("removing stale state", "dir", dir, "creator", st.creator)
		os.RemoveAll(dir)
		if d := cgroups.Detect(); d.Dir != "" {
			_ = cgroups.Remove(filepath.Join(d.Dir, "rless.slice", e.Name()))
		}
	}
}

// AnnotationImage, in a container's spec, is the ID of the image the
// container runs; the store refuses to remove such an image.
const AnnotationImage = "io.rless.image.id"

// UsesImage reports whether a container of runRoot that is not stopped
// runs image id (see AnnotationImage).
func UsesImage(runRoot, id string) bool {
	return anyLive(runRoot, func(s *specs.Spec) bool { return s.Annotations[AnnotationImage] == id })
}

// MountsPath reports whether a container of runRoot that is not stopped
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
// runRoot that is not stopped.
func anyLive(runRoot string, match func(*specs.Spec) bool) bool {
	all, _ := List(runRoot)
	for _, c := range all {
		if c.Status != Stopped && c.Spec != nil && match(c.Spec) {
			return true
		}
	}
	return false
}

// List returns the state of every container of runRoot, in the order of
// their ids. It takes no lock: each state is read from files replaced
// atomically.
func List(runRoot string) ([]State, error) {
	return ListWith(runRoot, ListOptions{})
}

// ListOptions say which containers ListWith reads, and how much of each.
type ListOptions struct {
	// Skip, if not nil, leaves out the containers whose id it accepts
	// (unread).
	Skip func(id string) bool
	// NoSpec leaves State.Spec nil, which spares decoding it.
	NoSpec bool
}

// ListWith is List with options.
func ListWith(runRoot string, o ListOptions) ([]State, error) {
	entries, err := os.ReadDir(runRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []State
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || o.Skip != nil && o.Skip(e.Name()) {
			continue
		}
		st, err := readState(filepath.Join(runRoot, e.Name()), !o.NoSpec, true)
		if err != nil {
			continue // gone meanwhile, or not a container's
		}
		if st.Status == Stopped && isStaleForeground(filepath.Join(runRoot, e.Name())) {
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

// ReadState returns the state of container id of runRoot without loading
// it (see Load), with its spec when withSpec.
func ReadState(runRoot, id string, withSpec bool) (State, error) {
	return readStateOf(runRoot, id, withSpec, true)
}

// ReadStatus returns the state of container id of runRoot without its
// spec and record (Spec and Record nil): its status, pid and exit code,
// from one file and /proc, for listing many containers.
func ReadStatus(runRoot, id string) (State, error) {
	return readStateOf(runRoot, id, false, false)
}

func readStateOf(runRoot, id string, withSpec, withRecord bool) (State, error) {
	if err := ValidateID(id); err != nil {
		return State{}, err
	}
	st, err := readState(filepath.Join(runRoot, id), withSpec, withRecord)
	if errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("no such container %s: %w", id, ErrNotExist)
	}
	return st, err
}

// isStaleForeground reports whether the state directory dir is that of a
// foreground container whose creator is gone: it is no one's to list.
func isStaleForeground(dir string) bool {
	raw, err := readRawState(dir)
	return err == nil && raw.autoRemove && raw.creator != os.Getpid() && !proc.Alive(raw.creator)
}
