package engine

import (
	"io"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/network"
)

// Config describes a container to create: what `rless run` expresses
// with its flags. The zero value of each field is podman's default.
type Config struct {
	// Image is the image to run (a reference, see Pull), or "" with
	// Rootfs.
	Image string `json:",omitzero"`
	// Pull says when the image is pulled (default PullMissing), Pulling
	// how.
	Pull    PullPolicy  `json:",omitzero"`
	Pulling PullOptions `json:",omitzero"`
	// Rootfs is a directory to use as the container's root (bound
	// read-write, unless ReadOnly), instead of an image.
	Rootfs string `json:",omitzero"`

	// Name is the container's name, unique in the run root ("": none).
	Name string `json:",omitzero"`
	// Command replaces the image's command (CMD); Entrypoint, if not nil,
	// replaces its entrypoint (an empty slice clears it) and clears its
	// command. With Rootfs, Command is the whole command.
	Command    []string `json:",omitzero"`
	Entrypoint []string `json:",omitzero"`
	// Env adds NAME=VALUE variables over the image's.
	Env []string `json:",omitzero"`
	// Workdir is the working directory ("": the image's, created if
	// missing). One given here must be a directory of the container's
	// root or of a mount: the container fails to start otherwise (exit
	// status 126, as podman's).
	Workdir string `json:",omitzero"`
	// User is user[:group], as names or numbers ("": the image's).
	User string `json:",omitzero"`
	// GroupAdd are more supplementary groups (podman's --group-add):
	// names of the container's /etc/group, or numbers.
	GroupAdd []string `json:",omitzero"`
	// Hostname is the container's host name ("": the id's first 12
	// digits).
	Hostname string `json:",omitzero"`
	// Terminal gives the command a pseudo-terminal.
	Terminal bool `json:",omitzero"`
	// NoInit makes the command PID 1 instead of rless's init (which
	// forwards signals, reaps zombies and serves Exec).
	NoInit bool `json:",omitzero"`
	// Idle starts no command: rless's init, PID 1, holds the container
	// (its namespaces, mounts and network) for the processes Exec starts
	// in it until Stop; the container then ends with status 0. Command
	// and Entrypoint must be empty, NoInit false. A kept sandbox
	// (package sandbox) is such a container.
	Idle bool `json:",omitzero"`
	// ReadOnly mounts the root read-only (with writable /tmp, /var/tmp
	// and /run for an image).
	ReadOnly bool `json:",omitzero"`
	// Mounts are added to the container's: Type "bind" (the source must
	// exist), "volume" (a named volume of the store, made when missing),
	// "tmpfs"; the option "U" gives a bind's source to the container's
	// user. spec.ParseVolume, ParseMount and ParseTmpfs parse podman's
	// forms.
	Mounts []specs.Mount `json:",omitzero"`
	// Network is the network mode: "slirp[:OPTIONS]" (the built-in
	// userspace network, the default), "none", "host",
	// "slirp4netns[:OPTIONS]" or "pasta[:ARGS]"; Publish are ports to
	// publish ([IP:][HOSTPORT:]CTRPORT[/PROTO]) and PublishAll publishes
	// the image's exposed ports.
	Network    string   `json:",omitzero"`
	Publish    []string `json:",omitzero"`
	PublishAll bool     `json:",omitzero"`
	// Egress, if not nil, limits where the container may connect: only
	// with the built-in network (the slirp mode), which enforces it (rless
	// sandbox's allow-list).
	Egress *network.Egress `json:",omitzero"`
	// DNS, DNSSearch and AddHosts (NAME:IP) shape /etc/resolv.conf and
	// /etc/hosts.
	DNS, DNSSearch, AddHosts []string `json:",omitzero"`
	// KeepID keeps the user's uid and gid inside the container (podman's
	// --userns=keep-id), nil for the default layout (container root is the
	// user).
	KeepID *KeepID `json:",omitzero"`
	// StopSignal is the signal that stops the container ("": the
	// image's, else SIGTERM); StopTimeout how long it has before SIGKILL
	// (0: 10 s).
	StopSignal  string        `json:",omitzero"`
	StopTimeout time.Duration `json:",omitzero"`
	// Security is the container's confinement.
	Security Security `json:",omitzero"`
	// Limits are its resource limits.
	Limits Limits `json:",omitzero"`
	// Sysctl are namespaced kernel parameters to set.
	Sysctl map[string]string `json:",omitzero"`
	// Labels are recorded with the container.
	Labels map[string]string `json:",omitzero"`

	// Restart is the restart policy of a detached container (its
	// monitor runs it); Healthcheck its healthcheck, nil for the
	// image's (if any); Log where its output goes.
	Restart     RestartPolicy `json:",omitzero"`
	Healthcheck *Healthcheck  `json:",omitzero"`
	Log         LogConfig     `json:",omitzero"`
	// Interactive keeps a detached container's standard input open for
	// attach (podman's -i with -d).
	Interactive bool `json:",omitzero"`

	// Stdin, Stdout and Stderr are the command's streams (nil:
	// /dev/null); with Terminal, Stdin and Stdout are relayed to its
	// pseudo-terminal. A detached container's monitor owns them.
	Stdin          io.Reader `json:"-"`
	Stdout, Stderr io.Writer `json:"-"`
	// ProxySignals forwards the signals this process receives (SIGINT,
	// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH) to the
	// container.
	ProxySignals bool `json:",omitzero"`
	// Detach makes the container a detached one: Create records it in
	// the store (it stays, created, until deleted) and Start gives it a
	// monitor, which runs it, logs its output, serves attach, applies the
	// restart policy and the healthcheck, and records how it ended. The
	// monitors of a user's detached containers run in one process of its
	// own session, the supervisor, which Start starts when none runs (in
	// this program, which must call Init first thing, or in rless's
	// supervisor program when this is rless's lean front) and which ends
	// two seconds after its last container. Without Detach the container
	// is this process's and is killed when this process ends.
	Detach bool `json:",omitzero"`
	// Remove deletes the container (its state and storage) as soon as it
	// ends; Run always does.
	Remove bool `json:",omitzero"`
}

// KeepID is podman's --userns=keep-id: the user's ids are the same inside
// the container (UID and GID, if not negative, choose other container
// ids for them), and the command runs as them unless Config.User says
// otherwise. It needs a subordinate range, unless Only.
type KeepID struct {
	UID, GID int `json:",omitzero"`
	// Only maps nothing but the user's ids (no subordinate range is
	// needed, and no newuidmap runs): the container has no root, nor any
	// id but the user's, and its other files show as nobody. Suits a root
	// of host files (rless sandbox's), not an image's.
	Only bool `json:",omitzero"`
}

// Security is a container's confinement beyond the defaults (podman's:
// its capabilities, masked paths, seccomp profile).
type Security struct {
	// CapAdd and CapDrop change the default capability set (names with or
	// without CAP_, or ALL).
	CapAdd, CapDrop []string `json:",omitzero"`
	// Privileged keeps every capability of the user namespace, masks no
	// path and filters no syscall (still unprivileged on the host).
	Privileged bool `json:",omitzero"`
	// NoNewPrivileges sets no_new_privs.
	NoNewPrivileges bool `json:",omitzero"`
	// Seccomp is "" for the default profile, "unconfined" for none, or
	// the path of a profile in the Docker/podman format.
	Seccomp string `json:",omitzero"`
	// Mask and Unmask change the masked paths (Unmask "ALL" unmasks
	// them all).
	Mask, Unmask []string `json:",omitzero"`
}

// Limits are a container's resource limits.
type Limits struct {
	// Rlimits are POSIX resource limits (spec.ParseUlimit parses
	// podman's name=soft[:hard]).
	Rlimits []specs.POSIXRlimit `json:",omitzero"`
	// Pids is the most processes the container may have: 0 is
	// spec.DefaultPidsLimit, negative no limit. It is enforced in a
	// delegated cgroup v2 when there is one, else as RLIMIT_NPROC.
	Pids int64 `json:",omitzero"`
	// Memory (bytes) and CPUs need a delegated cgroup v2 subtree.
	Memory int64   `json:",omitzero"`
	CPUs   float64 `json:",omitzero"`
	// NoCgroups runs without cgroup limits (Memory and CPUs are then
	// dropped, as podman's --cgroups=disabled).
	NoCgroups bool `json:",omitzero"`
}

// RestartPolicy says when the monitor of a detached container starts it
// again after it ended (never after Stop, Kill or Delete).
type RestartPolicy struct {
	// Name is "" or "no" (never), "on-failure" (when the command failed),
	// "always", or "unless-stopped" (as always, for rless: a container
	// stopped by the user is never restarted).
	Name string `json:",omitzero"`
	// MaxRetries bounds on-failure's restarts; 0 is no bound.
	MaxRetries int `json:",omitzero"`
}

// Healthcheck is a command run in a container now and then to tell
// whether it is healthy (podman's --health-* flags, Docker's HEALTHCHECK).
type Healthcheck struct {
	// Test is ["CMD", ARG...] (the command as it is), ["CMD-SHELL",
	// COMMAND] (run with /bin/sh -c) or ["NONE"] (no healthcheck).
	Test []string `json:",omitzero"`
	// Interval between checks (0: 30 s; negative: none but those run by
	// hand), Timeout of one (0: 30 s), StartPeriod during which failures
	// do not count (0: none), Retries: failures in a row that make the
	// container unhealthy (0: 3).
	Interval, Timeout, StartPeriod time.Duration `json:",omitzero"`
	Retries                        int           `json:",omitzero"`
	// OnFailure is what the monitor does when the container becomes
	// unhealthy: "" or "none", "kill", "restart" or "stop".
	OnFailure string `json:",omitzero"`
}

// LogConfig says where a detached container's output goes.
type LogConfig struct {
	// Driver is "" or "k8s-file" (a file in podman's k8s-file format,
	// read by Logs) or "none" (discarded).
	Driver string `json:",omitzero"`
	// MaxSize caps the log file in bytes (0: no cap): when it would grow
	// beyond, the older half is dropped.
	MaxSize int64 `json:",omitzero"`
}
