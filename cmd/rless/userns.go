package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/spec"
	"github.com/rless/rless/pkg/store"
	"github.com/rless/rless/pkg/userns"
	"github.com/spf13/cobra"
)

// keepID is a parsed --userns=keep-id[:uid=N,gid=N]; nil for the default.
type keepID struct{ uid, gid int }

// parseUserns parses --userns: "" and host (podman's rootless default:
// container root is the user), or keep-id with its options.
func parseUserns(v string) (*keepID, error) {
	mode, opts, _ := strings.Cut(v, ":")
	switch mode {
	case "", "host":
		if opts != "" {
			return nil, fmt.Errorf("--userns %q: %s takes no options", v, mode)
		}
		return nil, nil
	case "keep-id":
	default:
		return nil, fmt.Errorf("--userns %q: want host or keep-id[:uid=N,gid=N]", v)
	}
	k := &keepID{uid: -1, gid: -1}
	if opts == "" {
		return k, nil
	}
	for _, o := range strings.Split(opts, ",") {
		key, val, _ := strings.Cut(o, "=")
		n, err := strconv.ParseUint(val, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("--userns %q: %s wants a number", v, key)
		}
		switch key {
		case "uid":
			k.uid = int(n)
		case "gid":
			k.gid = int(n)
		default:
			return nil, fmt.Errorf("--userns %q: unknown option %q (want uid or gid)", v, key)
		}
	}
	return k, nil
}

// mapping returns the layout keep-id asks for.
func (k *keepID) mapping(host *userns.Host) (userns.Mapping, error) {
	return host.KeepID(k.uid, k.gid)
}

// ids returns the container uid and gid that are the user's.
func (k *keepID) ids(host *userns.Host) (uid, gid uint32) {
	uid, gid = uint32(host.UID), uint32(host.GID)
	if k.uid >= 0 {
		uid = uint32(k.uid)
	}
	if k.gid >= 0 {
		gid = uint32(k.gid)
	}
	return uid, gid
}

// user returns the user keep-id runs the command as when --user does not
// say, and its home directory: the one of the image's entry of that uid
// (in passwd, nil when the image has no /etc/passwd), else the user's own. For an
// image whose /etc/passwd has no such entry it also returns that file with
// one added, of the user's name and home, as podman does; else nil.
func (k *keepID) user(host *userns.Host, passwd []byte) (u specs.User, home string, withUser []byte) {
	uid, gid := k.ids(host)
	u = specs.User{UID: uid, GID: gid}
	home, found := spec.LookupUID(passwd, uid)
	if home == "" {
		home = "/"
		if hu, err := user.LookupId(strconv.Itoa(host.UID)); err == nil && hu.HomeDir != "" {
			home = hu.HomeDir
		}
	}
	if found || passwd == nil {
		return u, home, nil
	}
	name := host.User
	if name == "" {
		name = "user"
	}
	if len(passwd) > 0 && passwd[len(passwd)-1] != '\n' {
		passwd = append(slices.Clip(passwd), '\n')
	}
	return u, home, fmt.Appendf(slices.Clip(passwd), "%s:*:%d:%d:%s:%s:/bin/sh\n", name, uid, gid, name, home)
}

// mappedLower returns the image's copy for layout m (see
// store.MakeMapped), making it first, inside the user's default mapping,
// when the store lacks it.
func mappedLower(cmd *cobra.Command, g *globals, s *store.Store, img store.Image, host *userns.Host, m userns.Mapping) (string, error) {
	if dir, ok := s.MappedDir(img, m.Key()); ok {
		return dir, nil
	}
	// Inside, the user is root: the layouts go with the command.
	def, _ := host.Mapping()
	layouts, err := json.Marshal([]userns.Mapping{def, m})
	if err != nil {
		return "", err
	}
	if err := runHidden(cmd, g, host, mapCommand, img.ID, string(layouts)); err != nil {
		return "", err
	}
	dir, ok := s.MappedDir(img, m.Key())
	if !ok {
		return "", errors.New("the image's copy for --userns=keep-id was not made")
	}
	return dir, nil
}

// runHidden runs the hidden rless command args inside host's default
// mapping for the user, in a mount namespace of its own.
func runHidden(cmd *cobra.Command, g *globals, host *userns.Host, args ...string) error {
	return reexecInUserNS(cmd, host, append([]string{"--root", g.root, "--runroot", g.runRoot, "--log-level", g.logLevel}, args...))
}

// mapCommand is the hidden command that makes an image's copy for
// keep-id, run inside the user's default mapping.
const mapCommand = "__map-image"

func newMapImageCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    mapCommand + " IMAGE-ID LAYOUTS-JSON",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, done, err := storeInUserNS(cmd, g)
			if done || err != nil {
				return err
			}
			var layouts []userns.Mapping
			if err := json.Unmarshal([]byte(args[1]), &layouts); err != nil || len(layouts) != 2 {
				return fmt.Errorf("layouts %q: %v", args[1], err)
			}
			def, m := layouts[0], layouts[1]
			img, err := s.Lookup(args[0])
			if err != nil {
				return err
			}
			ru, rg := userns.Remap(def.UIDs, m.UIDs), userns.Remap(def.GIDs, m.GIDs)
			_, err = s.MakeMapped(img, m.Key(), func(uid, gid uint32) (uint32, uint32, bool) {
				u, ok1 := ru(uid)
				g, ok2 := rg(gid)
				return u, g, ok1 && ok2
			})
			return err
		},
	}
}
