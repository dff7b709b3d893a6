package userns

import (
	"os"
	"path/filepath"
	"strings"
)

// Blocked returns, in one line with its fix, why this host refuses user
// namespaces to unprivileged users, or "" when none of the settings that
// do so is set: kernel.unprivileged_userns_clone=0 (Debian's and older
// Ubuntu's switch), user.max_user_namespaces=0, or Ubuntu 24.04's
// kernel.apparmor_restrict_unprivileged_userns=1 (which lets the namespace
// be made but takes every capability in it from programs without an
// AppArmor profile that allows it).
func Blocked() string { return blockedIn("/proc/sys") }

func blockedIn(procSys string) string {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(procSys, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	switch {
	case read("kernel/unprivileged_userns_clone") == "0":
		return "unprivileged user namespaces are disabled on this host (kernel.unprivileged_userns_clone=0): " +
			"enable them with `sudo sysctl -w kernel.unprivileged_userns_clone=1` (and a line in /etc/sysctl.d/ to keep it)"
	case read("user/max_user_namespaces") == "0":
		return "user namespaces are disabled on this host (user.max_user_namespaces=0): " +
			"enable them with `sudo sysctl -w user.max_user_namespaces=28633` (and a line in /etc/sysctl.d/ to keep it)"
	case read("kernel/apparmor_restrict_unprivileged_userns") == "1" && !apparmorProfiled():
		exe, err := os.Executable()
		if err != nil {
			exe = "/usr/local/bin/rless"
		}
		return "AppArmor restricts unprivileged user namespaces on this host (kernel.apparmor_restrict_unprivileged_userns=1): " +
			"allow them for rless with a profile, /etc/apparmor.d/rless holding `abi <abi/4.0>, include <tunables/global> profile rless " + exe +
			" flags=(unconfined) { userns, }`, loaded with `sudo apparmor_parser -r /etc/apparmor.d/rless`"
	}
	return ""
}

// apparmorProfiled reports whether this process runs under an AppArmor
// profile of its own (which may allow user namespaces), not unconfined.
func apparmorProfiled() bool {
	for _, f := range []string{"/proc/self/attr/apparmor/current", "/proc/self/attr/current"} {
		if b, err := os.ReadFile(f); err == nil {
			label := strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
			return label != "" && label != "unconfined"
		}
	}
	return false
}
