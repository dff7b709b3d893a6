package test

import (
	"strings"
	"testing"
)

// TestSysctlSet: --sysctl sets namespaced kernel parameters in the
// container (its own network and IPC namespaces), seen in /proc/sys, and
// /proc/sys stays read-only to the command.
func TestSysctlSet(t *testing.T) {
	for _, network := range []string{"slirp", "none"} {
		t.Run(network, func(t *testing.T) {
			before := takeSnapshot(t)
			out := mustRun(t, []string{"--network", network, "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=65536", "--sysctl", "fs.mqueue.msg_max=20"},
				"sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max; { echo 0 >/proc/sys/net/ipv4/ip_forward; } 2>/dev/null && echo writable || echo read-only")
			if want := "1\n65536\n20\nread-only\n"; out != want {
				t.Errorf("/proc/sys read %q, want %q", out, want)
			}
			assertClean(t, before)
		})
	}
	// The host's values are untouched.
	before := takeSnapshot(t)
	hostShmmax := mustRun(t, []string{"--network", "host", "--sysctl", "kernel.shmmax=4096"}, "cat", "/proc/sys/kernel/shmmax")
	if hostShmmax != "4096\n" {
		t.Errorf("kernel.shmmax = %q in the container, want 4096", hostShmmax)
	}
	assertClean(t, before)
}

// TestSysctlRefused: sysctls of no namespace of the container's own are
// refused before anything is made, with exit 125 and one error line that
// names the key.
func TestSysctlRefused(t *testing.T) {
	for _, c := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"net with host network", []string{"--network", "host", "--sysctl", "net.ipv4.ip_forward=1"}, "net.ipv4.ip_forward"},
		{"not namespaced", []string{"--sysctl", "kernel.panic=1"}, "kernel.panic"},
		{"not namespaced fs", []string{"--sysctl", "fs.file-max=1000"}, "fs.file-max"},
		{"bad syntax", []string{"--sysctl", "kernel.shmmax"}, "--sysctl"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := takeSnapshot(t)
			r := runIn(t, c.flags, "true")
			if r.code != 125 {
				t.Errorf("exit %d, want 125 (stderr %q)", r.code, r.stderr)
			}
			checkErrLine(t, r.stderr, c.want)
			if strings.Contains(r.stderr, "not namespaced") != strings.HasPrefix(c.name, "not namespaced") {
				t.Errorf("stderr %q: does it say why?", r.stderr)
			}
			assertClean(t, before)
		})
	}
}
