package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ResolveUser turns a podman --user value ("user[:group]", each a name or a
// number) into ids, reading the container's /etc/passwd and /etc/group
// below rootfs (never following a link out of it). It also returns the home
// directory from /etc/passwd, or "" when the user has no entry.
//
// The supplementary groups are podman's: those of /etc/group that list the
// user (unless a group was given), and the primary group when a user was
// given.
func ResolveUser(rootfs, value string) (specs.User, string, error) {
	return ResolveUserFrom(ReadFileIn(rootfs, "/etc/passwd"), ReadFileIn(rootfs, "/etc/group"), value)
}

// ResolveUserFrom is ResolveUser with the contents of /etc/passwd and
// /etc/group given (nil for a missing file), as an image's layers hold
// them.
func ResolveUserFrom(passwd, group []byte, value string) (specs.User, string, error) {
	given := value != ""
	if !given {
		value = "0"
	}
	eu, err := user.GetExecUser(value, nil, reader(passwd), reader(group))
	if err != nil {
		return specs.User{}, "", err
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	if given {
		eu.Sgids = append(eu.Sgids, eu.Gid)
	}
	for _, g := range eu.Sgids {
		if !slices.Contains(u.AdditionalGids, uint32(g)) {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	return u, eu.Home, nil
}

// ResolveGroups turns --group-add values (group names of the container's
// /etc/group, held in group, or numbers) into gids.
func ResolveGroups(group []byte, names []string) ([]uint32, error) {
	var gids []uint32
	for _, name := range names {
		if id, err := strconv.ParseUint(name, 10, 32); err == nil {
			gids = append(gids, uint32(id))
			continue
		}
		gs, err := user.ParseGroupFilter(reader(group), func(g user.Group) bool { return g.Name == name })
		if err != nil || len(gs) == 0 {
			return nil, fmt.Errorf("unable to find group %s: no matching entries in group file", name)
		}
		gids = append(gids, uint32(gs[0].Gid))
	}
	return gids, nil
}

// MissingEntries returns the lines podman adds to a container's /etc/passwd
// and /etc/group for a --user value whose numeric uid (or gid) the files
// lack: "UID:*:UID:GID:container user:HOME:/bin/sh" with home the working
// directory, and "GID:x:GID:USER". Either is "" when nothing is missing.
func MissingEntries(passwd, group []byte, value string, gid uint32, home string) (passwdLine, groupLine string) {
	userPart, groupPart, _ := strings.Cut(value, ":")
	if uid, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		us, _ := user.ParsePasswdFilter(reader(passwd), func(u user.User) bool { return u.Uid == int(uid) })
		if len(us) == 0 {
			if home == "" {
				home = "/"
			}
			passwdLine = fmt.Sprintf("%d:*:%d:%d:container user:%s:/bin/sh\n", uid, uid, gid, home)
		}
	}
	if g, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
		gs, _ := user.ParseGroupFilter(reader(group), func(x user.Group) bool { return x.Gid == int(g) })
		if len(gs) == 0 {
			groupLine = fmt.Sprintf("%d:x:%d:%s\n", g, g, userPart)
		}
	}
	return passwdLine, groupLine
}

// LookupUID returns the home directory of the entry of uid in passwd (the
// contents of an /etc/passwd), and whether there is one.
func LookupUID(passwd []byte, uid uint32) (home string, ok bool) {
	us, _ := user.ParsePasswdFilter(reader(passwd), func(u user.User) bool { return u.Uid == int(uid) })
	if len(us) == 0 {
		return "", false
	}
	return us[0].Home, true
}

// reader is a reader of b without its comment lines (which
// github.com/moby/sys/user would read as entries of id 0), or nil (no
// file) for nil b.
func reader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	if !bytes.Contains(b, []byte("#")) {
		return bytes.NewReader(b)
	}
	var kept []byte
	for line := range bytes.Lines(b) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			kept = append(kept, line...)
		}
	}
	return bytes.NewReader(kept)
}

// ReadFileIn reads path inside rootfs, resolving it as if rootfs were the
// root; nil when it is missing or unreadable.
func ReadFileIn(rootfs, path string) []byte {
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
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	if b == nil {
		b = []byte{}
	}
	return b
}
