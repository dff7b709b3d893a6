package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/pkg/cgroups"
)

// Rename gives a detached container a new name (unique, as Create's).
func (c *Container) Rename(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	d, err := c.e.readDef(c.id)
	if err != nil {
		return fmt.Errorf("container %s runs in the foreground: it cannot be renamed", c.shortName())
	}
	if d.Name == name {
		return nil
	}
	if _, err := c.e.claimName(name, c.id); err != nil {
		return err
	}
	old := d.Name
	d.Name = name
	d.Config.Name = name
	if err := writeJSON(filepath.Join(c.e.defDir(c.id), configFile), d); err != nil {
		c.e.releaseName(name, c.id)
		return fmt.Errorf("rename container %s: %w", c.shortName(), err)
	}
	if old != "" {
		c.e.releaseName(old, c.id)
	}
	c.name = name
	return nil
}

// ErrNoFreezer is returned (wrapped) by Freeze where the container has no
// cgroup v2 of its own to freeze.
var ErrNoFreezer = errors.New("pausing needs the container in a cgroup v2 of its own (a delegated subtree)")

// Freeze pauses (freeze) or resumes the processes of a running container,
// through its cgroup v2 freezer.
func (c *Container) Freeze(freeze bool) error {
	if c.Pid() == 0 {
		return fmt.Errorf("container %s: %w", c.shortName(), ErrNotRunning)
	}
	d := cgroups.Detect()
	if d.Dir == "" {
		return fmt.Errorf("container %s: %w: %s", c.shortName(), ErrNoFreezer, d.Why)
	}
	dir := filepath.Join(d.Dir, "rless.slice", c.id)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.freeze")); err != nil {
		return fmt.Errorf("container %s: %w: it was made without cgroup limits", c.shortName(), ErrNoFreezer)
	}
	v := "0"
	if freeze {
		v = "1"
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte(v), 0); err != nil {
		return fmt.Errorf("container %s: %w", c.shortName(), err)
	}
	return nil
}

// TopProcess is a process of a container, as Top sees it.
type TopProcess struct {
	// User is its uid in the container; Pid and PPid its ids in the
	// container's PID namespace.
	User      string
	Pid, PPid int
	// CPU is the share of a CPU it has used since it started (percent).
	CPU float64
	// Elapsed is how long it has run, Time the CPU time it used.
	Elapsed, Time time.Duration
	// TTY is its terminal ("?" for none).
	TTY string
	// Args is its command line.
	Args string
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ).
const clockTick = 100

// Top lists the processes of a running container, read from the host's
// /proc: its first process and every descendant.
func (c *Container) Top() ([]TopProcess, error) {
	pid := c.Pid()
	if pid == 0 {
		return nil, fmt.Errorf("top can only be used on running containers: container %s: %w", c.shortName(), ErrNotRunning)
	}
	var mappings []specs.LinuxIDMapping
	if st, err := c.State(); err == nil && st.Spec != nil && st.Spec.Linux != nil {
		mappings = st.Spec.Linux.UIDMappings
	}
	uptime := readUptime()
	stats, err := proc.Table()
	if err != nil {
		return nil, err
	}
	nsPid := func(p int) int {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status")
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
				f := strings.Fields(v)
				if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
					return n
				}
			}
		}
		return p
	}
	var out []TopProcess
	for _, p := range proc.Descendants(stats, pid) {
		s := stats[p]
		tp := TopProcess{Pid: nsPid(p), TTY: "?", Time: time.Duration(s.CPU) * time.Second / clockTick}
		if p != pid {
			tp.PPid = nsPid(s.PPid)
		}
		if s.TTY != 0 {
			tp.TTY = "pts/" + strconv.Itoa((s.TTY&0xff)|((s.TTY>>12)&0xfff00))
		}
		if uptime > 0 {
			tp.Elapsed = uptime - time.Duration(s.Start)*time.Second/clockTick
			if tp.Elapsed > 0 {
				tp.CPU = 100 * tp.Time.Seconds() / tp.Elapsed.Seconds()
			}
		}
		if fi, err := os.Stat("/proc/" + strconv.Itoa(p)); err == nil {
			tp.User = containerID(fileUID(fi), mappings)
		}
		if cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline"); err == nil {
			tp.Args = strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b TopProcess) int { return a.Pid - b.Pid })
	return out, nil
}

// containerID returns host uid's id in the container mapped by m (the
// host id as it is when m does not map it).
func containerID(uid int, m []specs.LinuxIDMapping) string {
	for _, x := range m {
		if uid >= int(x.HostID) && uid < int(x.HostID+x.Size) {
			return strconv.Itoa(int(x.ContainerID) + uid - int(x.HostID))
		}
	}
	return strconv.Itoa(uid)
}

func readUptime() time.Duration {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// Prune deletes every stopped detached container and returns their ids.
func (e *Engine) Prune(ctx context.Context) ([]string, error) {
	infos, err := e.Containers(context.Background())
	if err != nil {
		return nil, err
	}
	var ids []string
	var errs []error
	for _, i := range infos {
		if !i.Detached || i.Status == Running || e.monitorPid(i.ID) != 0 {
			continue
		}
		if err := e.deleteDetached(ctx, i.ID, false); err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, i.ID)
	}
	return ids, errors.Join(errs...)
}

// fileUID returns the owner of fi.
func fileUID(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
