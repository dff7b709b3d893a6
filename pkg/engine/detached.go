package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rless/rless/internal/atomicfile"
	"github.com/rless/rless/internal/diskfault"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/container"
	"github.com/rless/rless/pkg/network"
)

// A detached container is recorded in the store, so that it outlives the
// run root (a reboot): containers.d/<id>/ holds its definition
// (config.json), how its last run went (last.json), its healthcheck
// (health.json), its log (ctr.log) and, while the user stops it, the
// marker that keeps its monitor from restarting it (stopping). While it
// runs, the run root holds the runtime's state directory (<id>/) and its
// monitor's pid file and attach socket (.monitors/<id>.pid, <id>.sock).
// Each file is replaced atomically; nothing takes a lock.

// Files of a detached container's record.
const (
	defsDir      = "containers.d"
	configFile   = "config.json"
	lastFile     = "last.json"
	healthFile   = "health.json"
	logFile      = "ctr.log"
	stoppingFile = "stopping"
	monitorsDir  = ".monitors"
)

// definition is a detached container as Create recorded it.
type definition struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Config  Config    `json:"config"`
	Created time.Time `json:"created"`
	// ImageID is the image the container runs, resolved once at Create.
	ImageID string `json:"image_id,omitempty"`
}

// lastRun is what the monitor records of a detached container's runs.
type lastRun struct {
	// Running is true from the monitor's start of the container to the
	// end of its last run (restarts included).
	Running      bool      `json:"running"`
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at"`
	ExitCode     int       `json:"exit_code"`
	Error        string    `json:"error,omitempty"`
	RestartCount int       `json:"restart_count"`
	Started      bool      `json:"started"` // it was started at least once
	// Command and Ports are the last run's command line and published
	// ports (network.Ports as JSON), which its container's record also
	// has: listing reads them here, one file less per container. nil in
	// what an older rless wrote.
	Command []string        `json:"command,omitempty"`
	Ports   json.RawMessage `json:"ports,omitempty"`
}

// healthState is the state of a detached container's healthcheck.
type healthState struct {
	Status        string         `json:"status"`
	FailingStreak int            `json:"failing_streak"`
	Log           []HealthResult `json:"log,omitempty"`
}

func (e *Engine) defDir(id string) string { return filepath.Join(e.root, defsDir, id) }

func (e *Engine) monitorPath(id, ext string) string {
	return filepath.Join(e.runRoot, monitorsDir, id+ext)
}

// readDef reads the definition of detached container id; the error wraps
// fs.ErrNotExist when there is none.
func (e *Engine) readDef(id string) (*definition, error) {
	var d definition
	if err := atomicfile.ReadJSON(filepath.Join(e.defDir(id), configFile), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// writeDef records d, making its directory as .tmp-<id> renamed into
// place complete.
func (e *Engine) writeDef(d *definition) error {
	dir := e.defDir(d.ID)
	tmp := filepath.Join(filepath.Dir(dir), ".tmp-"+d.ID)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return recordError(err, filepath.Dir(dir))
	}
	err := writeJSON(filepath.Join(tmp, configFile), d)
	if err == nil {
		err = writeJSON(filepath.Join(tmp, lastFile), lastRun{ExitCode: -1})
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return recordError(err, filepath.Dir(dir))
	}
	return nil
}

// recordError is err, met writing a detached container's record into
// dir: a full (or read-only) filesystem named as such ("no space left on
// device: writing a container's record into DIR"), else err with context.
func recordError(err error, dir string) error {
	if f := diskfault.Check(err, "a container's record", dir); f != nil {
		return f
	}
	return fmt.Errorf("record container: %w", err)
}

func (e *Engine) readLast(id string) lastRun {
	l := lastRun{ExitCode: -1}
	_ = atomicfile.ReadJSON(filepath.Join(e.defDir(id), lastFile), &l)
	return l
}

// writeLast records l. On a full disk (a container that filled it, say),
// where the atomic replacement finds no room, the record is overwritten in
// place, in the room it has: the end of the container is not lost.
func (e *Engine) writeLast(id string, l lastRun) error {
	path := filepath.Join(e.defDir(id), lastFile)
	err := writeJSON(path, l)
	if diskfault.Is(err) && overwriteJSON(path, l) == nil {
		return nil
	}
	return err
}

// overwriteJSON writes v over the content of the existing file path,
// padded with blanks to the old size: a small file keeps its block, and a
// reader sees valid JSON before and after.
func overwriteJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > int64(len(data)) {
		data = append(data, bytes.Repeat([]byte{' '}, int(fi.Size())-len(data))...)
	}
	_, err = f.WriteAt(data, 0)
	return errors.Join(err, f.Close())
}

func (e *Engine) readHealth(id string) healthState {
	var h healthState
	_ = atomicfile.ReadJSON(filepath.Join(e.defDir(id), healthFile), &h)
	return h
}

func (e *Engine) writeHealth(id string, h healthState) error {
	return writeJSON(filepath.Join(e.defDir(id), healthFile), h)
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// monitorPid returns the pid of the monitor of container id, or 0 when
// none runs.
func (e *Engine) monitorPid(id string) int {
	pid, _ := e.monitorOf(id)
	return pid
}

// monitorOf returns the pid of the monitor of container id (0 when none
// runs) and the socket of its supervisor (see claimMonitor).
func (e *Engine) monitorOf(id string) (pid int, sock string) {
	data, err := atomicfile.Read(e.monitorPath(id, ".pid"))
	if err != nil {
		return 0, ""
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, ""
	}
	pid, _ = strconv.Atoi(f[0])
	start, _ := strconv.ParseUint(f[1], 10, 64)
	if start == 0 || !proc.Running(pid, start) {
		return 0, ""
	}
	if len(f) > 2 {
		sock = filepath.Join(e.runRoot, supervisorDir, filepath.Base(f[2]))
	}
	return pid, sock
}

// detachedIDs returns the ids of the detached containers recorded.
func (e *Engine) detachedIDs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(e.root, defsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, en := range entries {
		if en.IsDir() && container.ValidateID(en.Name()) == nil {
			ids = append(ids, en.Name())
		}
	}
	return ids, nil
}

// detachedInfo returns what is known of detached container d, with its
// spec while it runs when withSpec.
func (e *Engine) detachedInfo(d *definition, withSpec bool) ContainerInfo {
	cfg := d.Config
	info := ContainerInfo{
		ID: d.ID, Name: d.Name, Image: cfg.Image, ImageID: d.ImageID, Rootfs: cfg.Rootfs,
		Command: cfg.Command, Created: d.Created, Labels: cfg.Labels, Mounts: cfg.Mounts,
		Detached: true, AutoRemove: cfg.Remove, Restart: cfg.Restart, Config: cfg, ExitCode: -1,
		Status: Created,
	}
	if cfg.Log.Driver != "none" {
		info.LogPath = filepath.Join(e.defDir(d.ID), logFile)
	}
	last := e.readLast(d.ID)
	info.StartedAt, info.FinishedAt, info.RestartCount = last.StartedAt, last.FinishedAt, last.RestartCount
	info.ExitCode, info.Error = last.ExitCode, last.Error
	if last.Started && !last.Running {
		info.Status = Stopped
	}
	if last.Running {
		// The container's state first: a running one has its monitor
		// (whose death kills it), which need not be looked up then.
		var s container.State
		var err error
		if last.Command != nil && !withSpec {
			s, err = container.ReadStatus(e.runRoot, d.ID)
			s.Record = &container.Record{Command: last.Command, Ports: last.Ports}
		} else {
			s, err = container.ReadState(e.runRoot, d.ID, withSpec)
		}
		switch {
		case (err != nil || s.Status == Stopped) && e.monitorPid(d.ID) == 0:
			// The monitor was killed: the container went with it.
			info.Status, info.ExitCode = Stopped, 137
			info.Error = "its monitor was killed"
			if !info.FinishedAt.After(info.StartedAt) {
				info.FinishedAt = time.Time{}
			}
		case err == nil:
			info.Status, info.Pid, info.Spec = s.Status, s.Pid, s.Spec
			if s.Status == Stopped {
				// Ended, its monitor deciding what next. An exit status
				// its init did not record is known only once the monitor
				// records it (or is found gone, above): until then it is
				// still running, as podman's is until conmon's exit file,
				// rather than "Exited (-1)" for that moment.
				info.Pid = 0
				if s.ExitCode >= 0 {
					info.ExitCode = s.ExitCode
				} else {
					info.Status = Running
				}
			}
			if s.Record != nil {
				// Into a variable of its own: &info.Ports would move
				// info, over a kilobyte, to the heap.
				var ports []network.PortMapping
				if len(s.Record.Ports) > 0 && json.Unmarshal(s.Record.Ports, &ports) == nil {
					info.Ports = ports
				}
				if s.Record.Command != nil {
					info.Command = s.Record.Command
				}
			}
		default:
			// Being restarted.
			info.Status = Created
		}
	}
	if info.Status != Running {
		info.Ports = nil
	}
	if effectiveHealthcheck(cfg) != nil {
		h := e.readHealth(d.ID)
		info.Health, info.FailingStreak, info.HealthLog = h.Status, h.FailingStreak, h.Log
		if info.Status != Running && info.Health != "" {
			info.Health = ""
		}
	}
	return info
}

// runtimeInfo returns what is known of a container that the runtime alone
// knows of (a foreground one).
func runtimeInfo(st container.State) ContainerInfo {
	info := ContainerInfo{
		ID: st.ID, Status: st.Status, Pid: st.Pid, ExitCode: st.ExitCode,
		Created: st.Created, Spec: st.Spec, AutoRemove: true,
	}
	if r := st.Record; r != nil {
		info.Name, info.Image, info.ImageID, info.Command = r.Name, r.Image, r.ImageID, r.Command
		info.Labels, info.Mounts = r.Labels, r.Mounts
		_ = json.Unmarshal(r.Ports, &info.Ports)
	}
	if st.Spec != nil {
		if info.Command == nil && st.Spec.Process != nil {
			info.Command = st.Spec.Process.Args
		}
		if info.Image == "" && st.Spec.Root != nil {
			info.Rootfs = st.Spec.Root.Path
		}
	}
	return info
}

// Containers returns what is known of every container: detached ones, in
// any state, and those run in the foreground by a process of the user
// (until they end). It takes no lock. The detached ones' Spec is left out
// (Container.Info has it).
func (e *Engine) Containers(ctx context.Context) ([]ContainerInfo, error) {
	ids, err := e.detachedIDs()
	if err != nil {
		return nil, err
	}
	// The foreground containers are those of the run root that are not
	// detached ones (being removed, if their definition is gone), read
	// while the detached ones are.
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	var states []container.State
	var listErr error
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		states, listErr = container.ListWith(e.runRoot, container.ListOptions{Skip: func(id string) bool { return seen[id] }})
	}()
	// Read in parallel: the time is system calls, on files and /proc.
	// One array for all (a ContainerInfo is over a kilobyte, and fresh
	// memory is slow to touch), compacted in place below.
	infos := make([]ContainerInfo, len(ids))
	found := make([]bool, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(ids), 2*runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				if d, err := e.readDef(ids[i]); err == nil { // else removed meanwhile
					infos[i], found[i] = e.detachedInfo(d, false), true
				}
			}
		}()
	}
	wg.Wait()
	out := infos[:0]
	for i := range infos {
		if found[i] {
			out = append(out, infos[i])
		}
	}
	<-listed
	if listErr != nil {
		return nil, listErr
	}
	for _, st := range states {
		if !seen[st.ID] {
			out = append(out, runtimeInfo(st))
		}
	}
	return out, nil
}

// Info returns what is known of the container now.
func (c *Container) Info() (ContainerInfo, error) {
	if d, err := c.e.readDef(c.id); err == nil {
		return c.e.detachedInfo(d, true), nil
	}
	if c.c == nil {
		return ContainerInfo{}, fmt.Errorf("no such container %s: %w", c.id, ErrNotExist)
	}
	st, err := c.c.State()
	if err != nil {
		return ContainerInfo{}, err
	}
	return runtimeInfo(st), nil
}
