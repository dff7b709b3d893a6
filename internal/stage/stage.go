package stage

import (
	"context"
	"errors"
	"fmt"
	"github.com/rless/rless/pkg/userns"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"unsafe"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/internal/proc"
	"github.com/rless/rless/internal/syncmsg"
	"golang.org/x/sys/unix"
)

// The re-exec protocol. A Go program cannot unshare a user namespace, so
// rless starts a copy of itself (/proc/self/exe) with clone flags, marks it
// with StageEnv, and hands it a message socket on descriptor SyncFD. The
// parent writes the id mapping and then sends syncmsg.Mapped. A program that
// uses this package must give the re-executed copy a chance to run its stage
// first thing in main (the container package's Init does that).
const (
	// StageEnv names the environment variable holding the stage a
	// re-executed child runs ("init", "unshare", ...).
	StageEnv = "_RLESS_STAGE"
	// mappedEnv marks a child that was mapped before it executed: its
	// value is premapped when the parent still releases it (Release), or
	// syncmsg.Mapped when the child must not wait at all.
	mappedEnv = "_RLESS_MAPPED"
	premapped = "premapped"
	// SyncFD is the descriptor number of the message socket in a child.
	SyncFD = 3
	// detachEnv marks a child started with SpawnOptions.Detach.
	detachEnv = "_RLESS_DETACHED"
)

// Stage returns the stage this process was re-executed for, or "" when it
// was not started by Spawn.
func Stage() string { return os.Getenv(StageEnv) }

// SpawnOptions says how to start a child stage.
type SpawnOptions struct {
	Stage      string    // stage name, passed in StageEnv
	Args       []string  // arguments after argv[0]
	Cloneflags uintptr   // namespaces to create; CLONE_NEWUSER is added
	Env        []string  // environment of the child (nil: this process's)
	Setsid     bool      // start the child in a new session
	Stdin      io.Reader // as in exec.Cmd
	Stdout     io.Writer
	Stderr     io.Writer
	Host       *userns.Host   // the helpers to map with (see userns.DetectHost)
	Mapping    userns.Mapping // the mapping to write (see userns.Host.Mapping)
	Cgroup     string         // a cgroup v2 directory to clone the child into, or ""
	// Path is the program to execute ("": this one, /proc/self/exe).
	Path string
	// ExtraFiles are passed to the child from descriptor 4 on (3 is the
	// message socket).
	ExtraFiles []*os.File
	// Detach lets the child outlive the thread that starts it (by
	// default it is killed when that thread ends).
	Detach bool
	// NoUserns starts the child in this process's user namespace: no
	// CLONE_NEWUSER, no mapping (Host and Mapping unused). Creating the
	// other namespaces then needs CAP_SYS_ADMIN here: rless running as
	// root of an engine's user namespace, as rootless podman runs its
	// runtime.
	NoUserns bool
	// Join are existing namespaces (by path) the child starts in: the
	// network, IPC, UTS, cgroup, PID (for its children) and mount
	// namespaces of another process (see CanJoin). They need Detach:
	// Start joins them on a thread of its own, which ends with the call.
	Join []specs.LinuxNamespace
}

// Child is a started child stage.
type Child struct {
	Cmd  *exec.Cmd
	Sync *syncmsg.Conn // parent's end of the message socket
	opts SpawnOptions
	// mapped is set once MapAhead has written the mapping.
	mapped bool
}

// SpareArg is the argument (in place of the stage's own) of a child
// started ahead of the work it will do: it waits for Claim to give it its
// argument and its standard descriptors (see AwaitClaim).
const SpareArg = "spare"

// Spawn starts the running binary again as opts.Stage in new namespaces,
// writes mapping m and tells the child it is mapped: Start, Map and Release
// in one call.
func Spawn(ctx context.Context, opts SpawnOptions) (*Child, error) {
	c, err := Start(opts)
	if err != nil {
		return nil, err
	}
	if err := c.Map(ctx, nil); err != nil {
		c.Kill()
		return nil, err
	}
	if err := c.Release(); err != nil {
		c.Kill()
		return nil, err
	}
	return c, nil
}

// Start starts the running binary again as opts.Stage in new namespaces.
// When opts.Mapping's container root is not the caller (podman's keep-id),
// the namespaces are made inside a user namespace of the host's default
// layout (see NestStage).
// The child waits (in WaitMapped) until Map has written its id mapping and
// Release has told it so; the caller may do other work meanwhile.
//
// A single mapping (no helpers) is written before the child executes.
// Otherwise the child executes at once, unmapped, and its runtime starts
// while the helpers run; it holds its capabilities in the new namespaces
// through ambient capabilities, which WaitMapped then clears.
//
// The child is killed when the OS thread that called Start exits; callers
// that run long should hold runtime.LockOSThread for the child's lifetime.
func Start(opts SpawnOptions) (_ *Child, err error) {
	parent, child, err := syncmsg.Pair()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	defer func() {
		if err != nil {
			parent.Close()
		}
	}()
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	var cgroupFD int
	if opts.Cgroup != "" {
		fd, err := unix.Open(opts.Cgroup, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup: %w", err)
		}
		defer unix.Close(fd)
		cgroupFD = fd
	}
	stage, flags := opts.Stage, opts.Cloneflags
	if opts.NoUserns {
		opts.Mapping = userns.Mapping{}
	} else if root, ok := userns.HostID(opts.Mapping.UIDs, 0); (!ok || root != uint32(os.Getuid())) && os.Geteuid() != 0 && !opts.Mapping.OwnOnly() {
		// A nested layout: the child runs NestStage in a namespace of
		// the host's default layout, and makes the wanted one inside.
		outer, fallback := opts.Host.Mapping()
		if fallback != "" {
			return nil, fmt.Errorf("a layout whose root is not your user needs a multi-id mapping: %s", fallback)
		}
		nest, err := nestedEnv(opts.Stage, opts.Cloneflags, opts.Mapping, outer)
		if err != nil {
			return nil, err
		}
		env = append(slices.Clip(env), nest...)
		stage, flags, opts.Mapping = NestStage, 0, outer
	}
	path := opts.Path
	if path == "" {
		path = "/proc/self/exe"
	}
	cmd := &exec.Cmd{
		Path:       path,
		Args:       append([]string{"rless-" + stage}, opts.Args...),
		Env:        append(slices.Clip(env), StageEnv+"="+stage),
		Stdin:      opts.Stdin,
		Stdout:     opts.Stdout,
		Stderr:     opts.Stderr,
		ExtraFiles: append([]*os.File{child.File()}, opts.ExtraFiles...),
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  flags,
			Pdeathsig:   syscall.SIGKILL,
			Setsid:      opts.Setsid,
			UseCgroupFD: opts.Cgroup != "", // CLONE_INTO_CGROUP: never outside its limits
			CgroupFD:    cgroupFD,
		},
	}
	if opts.Detach {
		cmd.SysProcAttr.Pdeathsig = 0
		cmd.Env = append(cmd.Env, detachEnv+"=1")
	}
	if !opts.NoUserns {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
	}
	if opts.NoUserns {
		cmd.Env = append(cmd.Env, mappedEnv+"="+premapped)
	} else if !opts.Mapping.Helpers {
		cmd.SysProcAttr.UidMappings = sysMappings(opts.Mapping.UIDs)
		cmd.SysProcAttr.GidMappings = sysMappings(opts.Mapping.GIDs)
		// Root of this namespace may map any of its ids, and leave
		// setgroups allowed; a user maps only its own, without it.
		cmd.SysProcAttr.GidMappingsEnableSetgroups = os.Geteuid() == 0
		if opts.Mapping.OwnOnly() && opts.Mapping.UIDs[0].ContainerID != 0 {
			// Only the caller's ids, as some other id than root (keep-id
			// without a range): the child executes as that id, keeping
			// its capabilities there as ambient ones.
			caps, err := allCaps()
			if err != nil {
				return nil, err
			}
			cmd.SysProcAttr.AmbientCaps = caps
		} else if root, _ := userns.HostID(opts.Mapping.UIDs, 0); root != uint32(os.Getuid()) {
			// This process's uid is not the new namespace's root (root
			// here maps other ids): the child becomes that root once
			// mapped (it has every capability there until it executes).
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
		}
		cmd.Env = append(cmd.Env, mappedEnv+"="+premapped)
	} else {
		// The child executes before the helpers have mapped it, and a
		// process that executes unmapped keeps no capabilities, unless
		// they are ambient: raised between clone and execve, they carry
		// its capabilities in the new namespace across, so that it need
		// not execute again once mapped. Its runtime starts meanwhile.
		caps, err := allCaps()
		if err != nil {
			return nil, err
		}
		cmd.SysProcAttr.AmbientCaps = caps
	}
	if err := startIn(cmd, opts); err != nil {
		if why := userns.Blocked(); why != "" && !opts.NoUserns {
			return nil, fmt.Errorf("create namespaces: %s: %w", why, err)
		}
		return nil, fmt.Errorf("create namespaces: %w", err)
	}
	return &Child{Cmd: cmd, Sync: parent, opts: opts}, nil
}

// joinFlags are the namespaces a child can start in by path, with their
// clone flags: those a thread of a multithreaded process can enter (not
// the user namespace, which needs a single thread; the mount namespace
// once the thread has a file system context of its own).
var joinFlags = map[specs.LinuxNamespaceType]int{
	specs.NetworkNamespace: unix.CLONE_NEWNET, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.CgroupNamespace: unix.CLONE_NEWCGROUP,
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.MountNamespace: unix.CLONE_NEWNS,
}

// CanJoin reports whether a child can start in an existing namespace of
// type t (SpawnOptions.Join).
func CanJoin(t specs.LinuxNamespaceType) bool {
	_, ok := joinFlags[t]
	return ok
}

// startIn starts cmd, in the namespaces opts.Join names: from a thread
// locked for good, which enters them first and ends with this call (the
// child inherits the namespaces of the thread that clones it).
func startIn(cmd *exec.Cmd, opts SpawnOptions) error {
	if len(opts.Join) == 0 {
		return cmd.Start()
	}
	if !opts.Detach {
		return errors.New("joining namespaces needs a detached child")
	}
	fds := make([]int, 0, len(opts.Join))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	flags := make([]int, 0, len(opts.Join))
	for _, ns := range opts.Join {
		flag, ok := joinFlags[ns.Type]
		if !ok {
			return fmt.Errorf("joining a %s namespace is not supported", ns.Type)
		}
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s namespace: %w", ns.Type, err)
		}
		fds, flags = append(fds, fd), append(flags, flag)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			done <- fmt.Errorf("join namespaces: %w", err)
			return
		}
		for i, fd := range fds {
			if err := unix.Setns(fd, flags[i]); err != nil {
				done <- fmt.Errorf("join %s namespace %s: %w", opts.Join[i].Type, opts.Join[i].Path, err)
				return
			}
		}
		done <- cmd.Start()
	}()
	return <-done
}

func sysMappings(ms []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, m := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

// Map writes the child's mapping with the helpers (see Apply), if Start
// has not written it. As soon as the uids are mapped it tells the child
// (WaitMapped's uidMapped), while the gid helper may still run; beforeUID,
// if not nil, is called first, so that the child may rely on what it does.
func (c *Child) Map(ctx context.Context, beforeUID func()) error {
	if !c.opts.Mapping.Helpers || c.mapped {
		return nil
	}
	return userns.ApplyThen(ctx, c.Cmd.Process.Pid, c.opts.Mapping, c.opts.Host, func() {
		if beforeUID != nil {
			beforeUID()
		}
		_ = c.Sync.Send(syncmsg.Msg{Type: syncmsg.UIDMapped})
	})
}

// MapAhead writes the mapping of a spare child (started with SpareArg)
// without telling it: it learns it once claimed and released. Map then
// does nothing.
func (c *Child) MapAhead(ctx context.Context) error {
	if !c.opts.Mapping.Helpers {
		return nil
	}
	if err := userns.ApplyThen(ctx, c.Cmd.Process.Pid, c.opts.Mapping, c.opts.Host, func() {}); err != nil {
		return err
	}
	c.mapped = true
	return nil
}

// Claim gives a spare child (started with SpareArg) the argument it
// runs with and its standard input, output and error: those of stdio
// that are not nil replace the ones it was started with (/dev/null, or
// what SpawnOptions gave). The child goes on once released, as any other.
func (c *Child) Claim(arg string, stdio [3]*os.File) error {
	var fds []int
	mask := 0
	for i, f := range stdio {
		if f != nil {
			fds = append(fds, int(f.Fd()))
			mask |= 1 << i
		}
	}
	err := c.Sync.Send(syncmsg.Msg{Type: syncmsg.Claim, Data: arg, Code: mask}, fds...)
	for _, f := range stdio {
		runtime.KeepAlive(f)
	}
	return err
}

// Release tells the child that its mapping is written.
func (c *Child) Release() error {
	return c.Sync.Send(syncmsg.Msg{Type: syncmsg.Mapped})
}

// Wait waits for the child to end. Meanwhile it forwards the signals that
// arrive on sigs (a nil channel forwards none) to the child, except those
// handle takes (returns true for), and kills the child when ctx is done.
func (c *Child) Wait(ctx context.Context, sigs <-chan os.Signal, handle func(os.Signal) bool) error {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				if handle == nil || !handle(sig) {
					_ = c.Cmd.Process.Signal(sig)
				}
			case <-ctx.Done():
				_ = c.Cmd.Process.Kill()
				return
			case <-done:
				return
			}
		}
	}()
	proc.AwaitExit(c.Cmd.Process.Pid)
	err := c.Cmd.Wait()
	close(done)
	return err
}

// Kill kills the child, reaps it and closes the socket.
func (c *Child) Kill() {
	_ = c.Cmd.Process.Kill()
	_ = c.Cmd.Wait()
	c.Sync.Close()
}

// WaitMapped is called by a child stage first thing. It waits until the
// parent has written the mapping and released it, and returns the message
// socket; the process is then root of its namespace, with all capabilities
// there. uidMapped, if not nil, is called (once, before WaitMapped returns)
// as soon as the uids are mapped and what the parent prepared before
// mapping them is there (see Child.Map), while the gids may still be
// mapped: for work that needs no identity, such as reading files.
func WaitMapped(uidMapped func()) (*syncmsg.Conn, error) {
	conn := syncConn()
	seen := os.Getenv(mappedEnv)
	os.Unsetenv(mappedEnv)
	detached = os.Getenv(detachEnv) == "1"
	os.Unsetenv(detachEnv)
	// Executing may have cleared the parent-death signal.
	if err := KillWithParent(conn); err != nil {
		return nil, err
	}
	if err := dropAmbient(); err != nil {
		return nil, err
	}
	notify := func() {
		if uidMapped != nil {
			uidMapped()
			uidMapped = nil
		}
	}
	for seen != syncmsg.Mapped {
		m, _, err := conn.Recv()
		if err != nil {
			return nil, fmt.Errorf("wait for id mapping: %w", err)
		}
		if m.Type != syncmsg.Mapped && m.Type != syncmsg.UIDMapped {
			return nil, fmt.Errorf("wait for id mapping: unexpected message %q", m.Type)
		}
		seen = m.Type
		notify()
	}
	notify()
	return conn, nil
}

// syncConn returns the child's end of the message socket (one Conn for
// the process: a second would close the descriptor when collected).
var syncConn = sync.OnceValue(func() *syncmsg.Conn { return syncmsg.FromFD(SyncFD) })

// AwaitClaim is called first thing by a spare child (started with
// SpareArg, see Child.Claim): it waits to be claimed, installs the
// standard descriptors it is given and returns its argument. It dies
// with its parent meanwhile, as Start asked. WaitMapped follows.
func AwaitClaim() (string, error) {
	conn := syncConn()
	detached = os.Getenv(detachEnv) == "1"
	if err := KillWithParent(conn); err != nil {
		return "", err
	}
	m, fds, err := conn.Recv()
	if err != nil {
		return "", fmt.Errorf("wait to be claimed: %w", err)
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if m.Type != syncmsg.Claim {
		return "", fmt.Errorf("wait to be claimed: unexpected message %q", m.Type)
	}
	for i := range 3 {
		if m.Code&(1<<i) == 0 {
			continue
		}
		if len(fds) == 0 {
			return "", errors.New("claimed without the descriptors announced")
		}
		if err := unix.Dup3(fds[0], i, 0); err != nil {
			return "", fmt.Errorf("install descriptor %d: %w", i, err)
		}
		unix.Close(fds[0])
		fds = fds[1:]
	}
	return m.Data, nil
}

// allCaps lists every capability the kernel knows, for SysProcAttr.AmbientCaps.
func allCaps() ([]uintptr, error) {
	last, err := capability.LastCap()
	if err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	caps := make([]uintptr, last+1)
	for i := range caps {
		caps[i] = uintptr(i)
	}
	return caps, nil
}

// dropAmbient clears the ambient capabilities Start gave this process, and
// the inheritable ones they needed, on every thread (they are per thread):
// what this stage executes gets the capabilities its spec sets, not these.
// The permitted and effective sets they gave stay. In a program built with
// cgo, whose threads Go cannot all reach, only the calling thread's go.
func dropAmbient() error {
	set, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, 0, 0, 0)
	if err != nil || set == 0 {
		return nil // none raised (or a kernel without ambient capabilities)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	// An ambient capability goes with its inheritable one.
	data[0].Inheritable, data[1].Inheritable = 0, 0
	switch _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e {
	case 0:
	case syscall.ENOTSUP:
		// A program built with cgo: this thread only. The others never
		// execute anything: what a stage executes, it executes from a
		// thread whose capabilities it sets (container's confine).
		err = unix.Capset(&hdr, &data[0])
	default:
		err = e
	}
	if err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	return nil
}

// KillWithParent makes the kernel kill this process when the thread that
// started it ends, as Start asked, and fails if that already happened (the
// parent's end of conn is closed then). Call it again after anything that
// clears the parent-death signal: an execve that gains capabilities, or a
// change of ids.
func KillWithParent(conn *syncmsg.Conn) error {
	if detached {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent-death signal: %w", err)
	}
	fds := []unix.PollFd{{Fd: int32(conn.File().Fd()), Events: unix.POLLRDHUP}}
	if n, _ := unix.Poll(fds, 0); n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLRDHUP) != 0 {
		return errors.New("rless exited before the container started")
	}
	return nil
}

// detached is set in a child started with SpawnOptions.Detach (see
// WaitMapped): it does not die with its parent.
var detached bool

// Detached reports whether this child stage was started with
// SpawnOptions.Detach: it must not die with the process that started it.
func Detached() bool { return detached }

// ExitCode returns the podman-style exit status of a finished process state:
// its exit code, or 128+N when signal N killed it.
func ExitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
