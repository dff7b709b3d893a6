package engine

import (
	"io"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Config describes a container to create: what `rless run` expresses
// with its flags. The zero value of each field is podman's default.
type Config struct {
	// Image is the image to run (a reference, see Pull), or "" with
	// Rootfs.
	Image string
	// Pull says when the image is pulled (default PullMissing), Pulling
	// how.
	Pull    PullPolicy
	Pulling PullOptions
	// Rootfs is a directory to use as the container's root (bound
	// read-write, unless ReadOnly), instead of an image.
	Rootfs string

	// Name is the container's name, unique in the run root ("": none).
	Name string
	// Command replaces the image's command (CMD); Entrypoint, if not nil,
	// replaces its entrypoint (an empty slice clears it) and clears its
	// command. With Rootfs, Command is the whole command.
	Command    []string
	Entrypoint []string
	// Env adds NAME=VALUE variables over the image's.
	Env []string
	// Workdir is the working directory (created if missing; "": the
	// image's).
	Workdir string
	// User is user[:group], as names or numbers ("": the image's).
	User string
	// Hostname is the container's host name ("": the id's first 12
	// digits).
	Hostname string
	// Terminal gives the command a pseudo-terminal.
	Terminal bool
	// NoInit makes the command PID 1 instead of rless's init (which
	// forwards signals, reaps zombies and serves Exec).
	NoInit bool
	// ReadOnly mounts the root read-only (with writable /tmp, /var/tmp
	// and /run for an image).
	ReadOnly bool
	// Mounts are added to the container's: Type "bind" (the source must
	// exist), "volume" (a named volume of the store, made when missing),
	// "tmpfs"; the option "U" gives a bind's source to the container's
	// user. spec.ParseVolume, ParseMount and ParseTmpfs parse podman's
	// forms.
	Mounts []specs.Mount
	// Network is the network mode: "slirp[:OPTIONS]" (the built-in
	// userspace network, the default), "none", "host",
	// "slirp4netns[:OPTIONS]" or "pasta[:ARGS]"; Publish are ports to
	// publish ([IP:][HOSTPORT:]CTRPORT[/PROTO]) and PublishAll publishes
	// the image's exposed ports.
	Network    string
	Publish    []string
	PublishAll bool
	// DNS, DNSSearch and AddHosts (NAME:IP) shape /etc/resolv.conf and
	// /etc/hosts.
	DNS, DNSSearch, AddHosts []string
	// KeepID keeps the user's uid and gid inside the container (podman's
	// --userns=keep-id), nil for the default layout (container root is the
	// user).
	KeepID *KeepID
	// StopSignal is the signal that stops the container ("": the
	// image's, else SIGTERM); StopTimeout how long it has before SIGKILL
	// (0: 10 s).
	StopSignal  string
	StopTimeout time.Duration
	// Security is the container's confinement.
	Security Security
	// Limits are its resource limits.
	Limits Limits
	// Sysctl are namespaced kernel parameters to set.
	Sysctl map[string]string
	// Labels are recorded with the container.
	Labels map[string]string

	// Stdin, Stdout and Stderr are the command's streams (nil:
	// /dev/null); with Terminal, Stdin and Stdout are relayed to its
	// pseudo-terminal.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ProxySignals forwards the signals this process receives (SIGINT,
	// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH) to the
	// container.
	ProxySignals bool
	// Detach lets the container outlive this process; by default it is
	// killed when this process ends.
	Detach bool
	// Remove deletes the container (its state and storage) as soon as it
	// ends; Run always does.
	Remove bool
}

// KeepID is podman's --userns=keep-id: the user's ids are the same inside
// the container (UID and GID, if not negative, choose other container
// ids for them), and the command runs as them unless Config.User says
// otherwise. It needs a subordinate range.
type KeepID struct{ UID, GID int }

// Security is a container's confinement beyond the defaults (podman's:
// its capabilities, masked paths, seccomp profile).
type Security struct {
	// CapAdd and CapDrop change the default capability set (names with or
	// without CAP_, or ALL).
	CapAdd, CapDrop []string
	// Privileged keeps every capability of the user namespace, masks no
	// path and filters no syscall (still unprivileged on the host).
	Privileged bool
	// NoNewPrivileges sets no_new_privs.
	NoNewPrivileges bool
	// Seccomp is "" for the default profile, "unconfined" for none, or
	// the path of a profile in the Docker/podman format.
	Seccomp string
	// Mask and Unmask change the masked paths (Unmask "ALL" unmasks
	// them all).
	Mask, Unmask []string
}

// Limits are a container's resource limits.
type Limits struct {
	// Rlimits are POSIX resource limits (spec.ParseUlimit parses
	// podman's name=soft[:hard]).
	Rlimits []specs.POSIXRlimit
	// Pids is the most processes the container may have: 0 is
	// spec.DefaultPidsLimit, negative no limit. It is enforced in a
	// delegated cgroup v2 when there is one, else as RLIMIT_NPROC.
	Pids int64
	// Memory (bytes) and CPUs need a delegated cgroup v2 subtree.
	Memory int64
	CPUs   float64
	// NoCgroups runs without cgroup limits (Memory and CPUs are then
	// dropped, as podman's --cgroups=disabled).
	NoCgroups bool
}
