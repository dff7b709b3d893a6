package container

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/seccomp"
	"golang.org/x/sys/unix"
)

// confine gives the calling thread, which must be locked to its goroutine
// and about to execute proc (directly or through a fork: the container's
// command, or a process exec'd in the container), what it runs with:
// resource limits, a new session keyring, ids, capabilities (nil
// proc.Capabilities keeps the thread's), no_new_privs, the seccomp filter
// (none when filter is empty). The
// order matters: the bounding set is dropped while the thread still holds
// CAP_SETPCAP, the ids are changed keeping the permitted set, and the sets
// are lowered last. Everything but the resource limits applies to this
// thread only, and so to what it starts.
func confine(proc *specs.Process, filter []unix.SockFilter) error {
	// The file mode creation mask (the process's, shared by its threads):
	// the spec's, else 0022, as runc's.
	umask := 0o022
	if proc.User.Umask != nil {
		umask = int(*proc.User.Umask)
	}
	syscall.Umask(umask)
	if proc.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*proc.OOMScoreAdj)), 0); err != nil {
			return fmt.Errorf("set oom_score_adj %d: %w", *proc.OOMScoreAdj, err)
		}
	}
	for _, r := range proc.Rlimits {
		if err := setRlimit(r); err != nil {
			return err
		}
	}
	// A new session keyring (session keyrings belong to threads): none of
	// the host session's keys is possessed, so none can be read.
	if _, err := unix.KeyctlJoinSessionKeyring("_ses.rless"); err != nil && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("join a new session keyring: %w", err)
	}
	caps, err := capabilitySet(proc.Capabilities)
	if err != nil {
		return err
	}
	if err := caps.Apply(capability.BOUNDS); err != nil {
		return fmt.Errorf("drop capabilities from the bounding set: %w", err)
	}
	// Without no_new_privs a filter needs CAP_SYS_ADMIN: install it while
	// the thread has it (the profile must then allow the few calls left).
	if !proc.NoNewPrivileges {
		if err := seccomp.Install(filter); err != nil {
			return err
		}
	}
	if err := switchIDs(proc.User); err != nil {
		return err
	}
	if err := caps.Apply(capability.CAPS | capability.AMBS); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
		if err := seccomp.Install(filter); err != nil {
			return err
		}
	}
	return nil
}

// switchIDs sets the supplementary groups, gid and uid of the calling
// thread (raw syscalls: Go's would change every thread) to u's, keeping the
// permitted capabilities across a change to a non-zero uid.
func switchIDs(u specs.User) error {
	if !setgroupsDenied() {
		if err := setgroups(u.AdditionalGids); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if u.UID != 0 {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
			return fmt.Errorf("keep capabilities: %w", e)
		}
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	return nil
}

// setgroups sets the supplementary groups of the calling thread.
func setgroups(gids []uint32) error {
	var ptr unsafe.Pointer
	if len(gids) > 0 {
		ptr = unsafe.Pointer(&gids[0])
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(gids)), uintptr(ptr), 0); e != 0 {
		return e
	}
	return nil
}

// capabilitySet returns the capabilities of c for the calling thread; nil
// c keeps them all.
func capabilitySet(c *specs.LinuxCapabilities) (capability.Capabilities, error) {
	caps, err := capability.NewPid2(0)
	if err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	if c == nil {
		// Loading reads /proc/self/status: only for keeping them all.
		if err := caps.Load(); err != nil {
			return nil, fmt.Errorf("capabilities: %w", err)
		}
		return caps, nil
	}
	caps.Clear(capability.CAPS | capability.BOUNDS | capability.AMBS)
	for _, set := range []struct {
		which capability.CapType
		names []string
	}{
		{capability.BOUNDING, c.Bounding}, {capability.PERMITTED, c.Permitted},
		{capability.EFFECTIVE, c.Effective}, {capability.INHERITABLE, c.Inheritable},
		{capability.AMBIENT, c.Ambient},
	} {
		for _, name := range set.names {
			v, ok := capByName[name]
			if !ok {
				return nil, fmt.Errorf("unknown capability %q", name)
			}
			caps.Set(set.which, v)
		}
	}
	return caps, nil
}

// capByName maps "CAP_CHOWN" and so on to capabilities.
var capByName = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// setRlimit sets a resource limit of this process.
func setRlimit(r specs.POSIXRlimit) error {
	t, ok := rlimitTypes[r.Type]
	if !ok {
		return fmt.Errorf("unknown resource limit %q", r.Type)
	}
	if err := unix.Prlimit(0, t, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}, nil); err != nil {
		return fmt.Errorf("set %s to %d:%d: %w (a hard limit can only be lowered)", r.Type, r.Soft, r.Hard, err)
	}
	return nil
}
