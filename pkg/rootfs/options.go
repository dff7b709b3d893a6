// Package rootfs assembles a container's root filesystem from an OCI spec
// inside the container's own mount namespace: it binds the root, mounts
// /proc, /sys, /dev and the spec's other mounts, binds the device nodes
// from the host (as rootless runtimes must), and pivots into it.
//
// Every path inside the root is resolved with openat2(RESOLVE_IN_ROOT), so a
// symlink in the root filesystem cannot redirect a mount outside it.
package rootfs

import (
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOpts is an OCI mount's options split into mount flags, propagation,
// and the filesystem-specific data string.
type mountOpts struct {
	flags       uintptr
	propagation uintptr
	recursiveRO bool
	data        string
}

var flagOpts = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"sync":        {false, unix.MS_SYNCHRONOUS},
	"async":       {true, unix.MS_SYNCHRONOUS},
	"dirsync":     {false, unix.MS_DIRSYNC},
	"remount":     {false, unix.MS_REMOUNT},
	"mand":        {false, unix.MS_MANDLOCK},
	"nomand":      {true, unix.MS_MANDLOCK},
	"atime":       {true, unix.MS_NOATIME},
	"noatime":     {false, unix.MS_NOATIME},
	"diratime":    {true, unix.MS_NODIRATIME},
	"nodiratime":  {false, unix.MS_NODIRATIME},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
	"relatime":    {false, unix.MS_RELATIME},
	"norelatime":  {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"silent":      {false, unix.MS_SILENT},
}

var propagationOpts = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseOptions splits OCI mount options into flags and data.
func parseOptions(options []string) mountOpts {
	var o mountOpts
	var data []string
	for _, opt := range options {
		if f, ok := flagOpts[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		if p, ok := propagationOpts[opt]; ok {
			o.propagation = p
			continue
		}
		switch opt {
		case "rro":
			o.recursiveRO = true
		case "z", "Z", "rrw", "":
			// SELinux relabelling does not apply here; rrw is the default.
		default:
			data = append(data, opt)
		}
	}
	o.data = strings.Join(data, ",")
	return o
}

// MountOptions lists the mount options the root filesystem's mounts
// understand by name (others are passed to the file system as data).
func MountOptions() []string {
	out := []string{"rro"}
	for name := range flagOpts {
		out = append(out, name)
	}
	for name := range propagationOpts {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
