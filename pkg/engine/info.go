package engine

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/network"
)

// ContainerInfo is what the engine knows of a container, for listing and
// inspecting it (see Engine.Containers and Container.Info): its record,
// its status now and the end of its last run.
type ContainerInfo struct {
	ID   string
	Name string
	// Image is the reference the container was made from ("" for a
	// root directory), ImageID the image's ID; Rootfs the root
	// directory of one made from a directory.
	Image, ImageID, Rootfs string
	// Command is the container's command line (entrypoint and command).
	Command []string
	// Created is when the container was made.
	Created time.Time
	// Status is created (made, never started, or created again by a
	// restart), running or stopped.
	Status Status
	// Pid is the host pid of the container's first process while it
	// runs, else 0.
	Pid int
	// ExitCode is the status its command ended with the last time
	// (128+N for signal N), -1 when unknown or never ended.
	ExitCode int
	// StartedAt and FinishedAt are the times of its last start and end
	// (zero if none).
	StartedAt, FinishedAt time.Time
	// Error says why the last run ended when the command did not end on
	// its own ("killed with its monitor", say), else "".
	Error string
	// Ports are its published ports.
	Ports []network.PortMapping
	// Labels are its labels.
	Labels map[string]string
	// Mounts are the mounts added to its root (binds, volumes, tmpfs).
	Mounts []specs.Mount
	// Detached is true for a container that a monitor runs (run -d,
	// create and start), false for one whose creator runs it in the
	// foreground.
	Detached bool
	// AutoRemove is true for a container removed as soon as it ends
	// (--rm).
	AutoRemove bool
	// Restart is its restart policy, RestartCount how often the monitor
	// restarted it since its last start.
	Restart      RestartPolicy
	RestartCount int
	// Health is the state of its healthcheck: "" (none), "starting",
	// "healthy" or "unhealthy"; FailingStreak the number of failed
	// checks in a row, HealthLog the last checks (at most 5).
	Health        string
	FailingStreak int
	HealthLog     []HealthResult
	// LogPath is its log file ("" with the none log driver).
	LogPath string
	// Config is the configuration it was made with (its streams unset).
	Config Config
	// Spec is its spec while it runs, else nil.
	Spec *specs.Spec
}

// HealthResult is one run of a container's healthcheck.
type HealthResult struct {
	Start, End time.Time
	ExitCode   int
	Output     string
}
