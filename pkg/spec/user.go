package spec

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ResolveUser turns a podman --user value ("user[:group]", each a name or a
// number) into ids, reading the container's /etc/passwd and /etc/group
// below rootfs (never following a link out of it). It also returns the home
// directory from /etc/passwd, or "" when the user has no entry. Supplementary
// groups are those of /etc/group that list the user, unless a group was
// given.
func ResolveUser(rootfs, value string) (specs.User, string, error) {
	return resolveUser(value, readDB(rootfs, "/etc/passwd"), func() [][]string { return readDB(rootfs, "/etc/group") })
}

// ResolveUserFrom is ResolveUser with the contents of /etc/passwd and
// /etc/group given (nil for a missing file), as an image's layers hold
// them.
func ResolveUserFrom(passwd, group []byte, value string) (specs.User, string, error) {
	return resolveUser(value, parseDB(bytes.NewReader(passwd)), func() [][]string { return parseDB(bytes.NewReader(group)) })
}

// LookupUID returns the home directory of the entry of uid in passwd (the
// contents of an /etc/passwd), and whether there is one.
func LookupUID(passwd []byte, uid uint32) (home string, ok bool) {
	for _, f := range parseDB(bytes.NewReader(passwd)) {
		if len(f) >= 6 && f[2] != "" && parseID(f[2]) == uid {
			return f[5], true
		}
	}
	return "", false
}

func resolveUser(value string, passwd [][]string, readGroups func() [][]string) (specs.User, string, error) {
	var u specs.User
	if value == "" {
		value = "0"
	}
	userPart, groupPart, hasGroup := strings.Cut(value, ":")
	var name, home string
	var found bool
	if id, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(id)
		for _, f := range passwd {
			if len(f) >= 6 && f[2] != "" && parseID(f[2]) == u.UID {
				name, home, found = f[0], f[5], true
				u.GID = parseID(f[3])
				break
			}
		}
	} else {
		for _, f := range passwd {
			if len(f) >= 6 && f[0] == userPart {
				name, home, found = f[0], f[5], true
				u.UID, u.GID = parseID(f[2]), parseID(f[3])
				break
			}
		}
		if !found {
			return u, "", fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
	}
	groups := readGroups()
	if hasGroup {
		if id, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(id)
		} else {
			gid, ok := lookupGroup(groups, groupPart)
			if !ok {
				return u, "", fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
			}
			u.GID = gid
		}
		return u, home, nil
	}
	if found {
		for _, f := range groups {
			if len(f) < 4 || parseID(f[2]) == u.GID {
				continue
			}
			for _, member := range strings.Split(f[3], ",") {
				if member == name {
					u.AdditionalGids = append(u.AdditionalGids, parseID(f[2]))
				}
			}
		}
	}
	return u, home, nil
}

func lookupGroup(groups [][]string, name string) (uint32, bool) {
	for _, f := range groups {
		if len(f) >= 3 && f[0] == name {
			return parseID(f[2]), true
		}
	}
	return 0, false
}

func parseID(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

// readDB reads a colon-separated database file (passwd, group) inside
// rootfs. A missing or unreadable file reads as empty.
func readDB(rootfs, path string) [][]string {
	dir, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, path, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return parseDB(f)
}

func parseDB(r io.Reader) [][]string {
	var out [][]string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}
