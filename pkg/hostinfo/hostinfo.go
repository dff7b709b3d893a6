// Package hostinfo reports what this host offers rless: the user's id
// ranges and helpers, the kernel features rless uses, and the optional
// external programs it can call.
package hostinfo

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/rless/rless/pkg/cgroups"
	"github.com/rless/rless/pkg/network"
	"github.com/rless/rless/pkg/overlay"
	"github.com/rless/rless/pkg/userns"
	"golang.org/x/sys/unix"
)

// Info is the report of Collect.
type Info struct {
	Host     Host               `json:"host"`
	IDs      *userns.Host       `json:"idMappings"`
	Mapping  userns.Mapping     `json:"mapping"`
	Fallback string             `json:"mappingFallback,omitempty"` // why the single mapping is used
	Kernel   Kernel             `json:"kernel"`
	Helpers  map[string]string  `json:"helpers"` // program → path, "" when not installed
	Network  []string           `json:"networkModes"`
	Cgroups  cgroups.Delegation `json:"cgroups"`
	Limits   map[string]string  `json:"limits"` // limit → how it is enforced, or why not
	Store    Store              `json:"store"`
}

// Host is the machine.
type Host struct {
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel"`
	Hostname string `json:"hostname"`
	CPUs     int    `json:"cpus"`
}

// Kernel lists the kernel features rless depends on or prefers.
type Kernel struct {
	MaxUserNamespaces  int  `json:"maxUserNamespaces"`
	UnprivilegedUserns bool `json:"unprivilegedUserns"` // kernel.unprivileged_userns_clone (where it exists) allows it
	// UsernsBlocked says why this host refuses user namespaces to
	// unprivileged users, with the fix (userns.Blocked); "" when it does not.
	UsernsBlocked   string `json:"usernsBlocked,omitempty"`
	Openat2         bool   `json:"openat2"`         // RESOLVE_IN_ROOT path resolution (5.6)
	MountSetattr    bool   `json:"mountSetattr"`    // recursive read-only mounts (5.12)
	OverlayInUserns bool   `json:"overlayInUserns"` // overlayfs mountable in a user namespace (5.11)
	Cgroups         string `json:"cgroups"`         // "v2", "v1" or "hybrid"
	FuseDevice      bool   `json:"fuseDevice"`      // /dev/fuse usable by this user
	TunDevice       bool   `json:"tunDevice"`       // /dev/net/tun usable by this user
}

// Store is where rless keeps its data.
type Store struct {
	Root    string `json:"root"`
	RunRoot string `json:"runRoot"`
	// Overlay is how image layers become a container's root on this
	// store, as overlay.Probe found (filled in by the caller, which can
	// run the probe in a user namespace); nil when unknown.
	Overlay *overlay.Detection `json:"overlay,omitempty"`
}

// HelperNames are the optional external programs rless looks for.
var HelperNames = []string{"newuidmap", "newgidmap", "fuse-overlayfs", "pasta", "slirp4netns"}

// Collect gathers the report; root and runRoot are the store paths in use.
func Collect(root, runRoot string) (*Info, error) {
	ids, err := userns.DetectHost()
	if err != nil {
		return nil, err
	}
	info := &Info{IDs: ids, Helpers: map[string]string{}, Store: Store{Root: root, RunRoot: runRoot}}
	info.Mapping, info.Fallback = ids.Mapping()
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	info.Host = Host{OS: runtime.GOOS, Arch: runtime.GOARCH, Kernel: cstr(uts.Release[:]), Hostname: cstr(uts.Nodename[:]), CPUs: runtime.NumCPU()}
	for _, h := range HelperNames {
		info.Helpers[h], _ = exec.LookPath(h)
	}
	info.Kernel = detectKernel(info.Host.Kernel)
	info.Network = []string{"none", "host"}
	if info.Kernel.TunDevice {
		// The built-in userspace network needs a tap device.
		info.Network = append([]string{"slirp"}, info.Network...)
	}
	for _, prog := range []string{"slirp4netns", "pasta"} {
		if info.Helpers[prog] != "" {
			info.Network = append(info.Network, prog)
		}
	}
	info.Cgroups = cgroups.Detect()
	info.Limits = map[string]string{"ulimit": "setrlimit (hard limits can only be lowered)"}
	for limit, ctrl := range map[string]string{"pids": "pids", "memory": "memory", "cpus": "cpu"} {
		switch {
		case info.Cgroups.Available(ctrl):
			info.Limits[limit] = "cgroup " + info.Cgroups.Dir + "/rless.slice"
		case limit == "pids":
			info.Limits[limit] = "RLIMIT_NPROC, counted per user namespace (no delegated pids controller: " + info.Cgroups.Reason(ctrl) + ")"
		default:
			info.Limits[limit] = "no: " + info.Cgroups.Reason(ctrl)
		}
	}
	return info, nil
}

func detectKernel(release string) Kernel {
	k := Kernel{
		MaxUserNamespaces:  readInt("/proc/sys/user/max_user_namespaces"),
		UnprivilegedUserns: true,
		FuseDevice:         unix.Access("/dev/fuse", unix.R_OK|unix.W_OK) == nil,
		TunDevice:          network.TunUsable(),
	}
	if v, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil {
		k.UnprivilegedUserns = strings.TrimSpace(string(v)) == "1"
	}
	if v, err := os.ReadFile("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); err == nil && strings.TrimSpace(string(v)) == "1" {
		k.UnprivilegedUserns = false
	}
	k.UnprivilegedUserns = k.UnprivilegedUserns && k.MaxUserNamespaces > 0
	k.UsernsBlocked = userns.Blocked()
	if fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}); err == nil {
		k.Openat2 = true
		unix.Close(fd)
	}
	// mount_setattr with no attributes on a bad fd answers EBADF when the
	// call exists and ENOSYS when it does not.
	k.MountSetattr = unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{}) != unix.ENOSYS
	k.OverlayInUserns = kernelAtLeast(release, 5, 11)
	k.Cgroups = cgroupMode()
	return k
}

func cgroupMode() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid"
	}
	return "v1"
}

// kernelAtLeast compares a release string such as "6.18.44-foo" to major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, _ := strconv.Atoi(parts[0])
	digits := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if digits < 0 {
		digits = len(parts[1])
	}
	min, _ := strconv.Atoi(parts[1][:digits])
	return maj > major || (maj == major && min >= minor)
}

func readInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
