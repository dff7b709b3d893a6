package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// VolumeMount is the Type of the mounts ParseVolume and ParseMount return
// for named volumes: their Source is the volume's name, which the caller
// turns into a bind mount of the volume's directory.
const VolumeMount = "volume"

// ChownOption, among a mount's options, asks for its source to be given
// (recursively) to the container's user before the container starts, as
// podman's -v …:U; the caller does it and drops the option.
const ChownOption = "U"

// ParseVolume parses podman's -v SOURCE:CONTAINER[:OPTIONS]. A SOURCE that
// is a path (/… or .…) gives a bind mount and must exist (a missing one is
// an error, never a directory made for it); any other SOURCE names a
// volume (see VolumeMount). OPTIONS are ro, rw, U (see ChownOption), z and Z
// (accepted: without SELinux there is nothing to relabel), separated by
// commas.
func ParseVolume(v string) (specs.Mount, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return specs.Mount{}, fmt.Errorf("volume %q: want HOST-PATH:CONTAINER-PATH[:OPTIONS]", v)
	}
	var opts []string
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro", "rw", ChownOption:
				opts = append(opts, o)
			case "z", "Z":
			default:
				return specs.Mount{}, fmt.Errorf("volume %q: unknown option %q", v, o)
			}
		}
	}
	if !strings.HasPrefix(parts[0], "/") && !strings.HasPrefix(parts[0], ".") {
		return volumeMount(parts[0], parts[1], opts)
	}
	return bindMount(parts[0], parts[1], opts)
}

func volumeMount(name, dst string, opts []string) (specs.Mount, error) {
	if !strings.HasPrefix(dst, "/") {
		return specs.Mount{}, fmt.Errorf("mount destination %q is not an absolute path", dst)
	}
	return specs.Mount{Destination: filepath.Clean(dst), Type: VolumeMount, Source: name, Options: append([]string{"rbind"}, opts...)}, nil
}

func bindMount(src, dst string, opts []string) (specs.Mount, error) {
	if !strings.HasPrefix(dst, "/") {
		return specs.Mount{}, fmt.Errorf("mount destination %q is not an absolute path", dst)
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return specs.Mount{}, err
	}
	if _, err := os.Stat(abs); err != nil {
		return specs.Mount{}, fmt.Errorf("mount source: %w", err)
	}
	return specs.Mount{Destination: filepath.Clean(dst), Type: "bind", Source: abs, Options: append([]string{"rbind"}, opts...)}, nil
}

// ParseTmpfs parses podman's --tmpfs CONTAINER-PATH[:OPTIONS] (mount
// options of tmpfs such as size=64m,mode=1777).
func ParseTmpfs(v string) (specs.Mount, error) {
	dst, opts, _ := strings.Cut(v, ":")
	if !strings.HasPrefix(dst, "/") {
		return specs.Mount{}, fmt.Errorf("tmpfs %q: the path must be absolute", v)
	}
	m := specs.Mount{Destination: filepath.Clean(dst), Type: "tmpfs", Source: "tmpfs", Options: []string{"rw", "nosuid", "nodev"}}
	if opts != "" {
		m.Options = append(m.Options, strings.Split(opts, ",")...)
	}
	return m, nil
}

// ParseMount parses podman's --mount type=bind|volume|tmpfs,... : for bind
// and volume, source (src) and destination (dst, target); for tmpfs,
// destination, tmpfs-size and tmpfs-mode. Each type takes the options of
// podman's that rless carries out: ro/readonly/rw (=true or =false),
// nosuid/suid, nodev/dev, noexec/exec; bind-propagation=P,
// bind-nonrecursive and the bare propagation modes (shared, rprivate, ...)
// for bind; U/chown (see ChownOption) for bind and volume; options that ask
// for nothing without SELinux (z, Z, relabel) or that Linux ignores
// (consistency), and nocopy and notmpcopyup, which are what rless does
// anyway. Other options, and an unknown type, are refused with an error
// naming them.
func ParseMount(v string) (specs.Mount, error) {
	kv := map[string]string{}
	withValue := map[string]bool{}
	var keys []string // in order, aliases resolved
	for _, f := range strings.Split(v, ",") {
		if f == "" {
			continue
		}
		k, val, ok := strings.Cut(f, "=")
		k = mountAlias(k)
		if _, dup := kv[k]; dup {
			return specs.Mount{}, fmt.Errorf("mount %q: %s given more than once", v, k)
		}
		kv[k], withValue[k] = val, ok
		keys = append(keys, k)
	}
	typ, ok := kv["type"]
	switch {
	case !ok:
		return specs.Mount{}, fmt.Errorf("mount %q: no type (want type=bind, volume or tmpfs)", v)
	case typ != "bind" && typ != "volume" && typ != "tmpfs":
		return specs.Mount{}, fmt.Errorf("mount %q: invalid filesystem type %q (rless mounts bind, volume and tmpfs)", v, typ)
	}
	var opts []string
	ro := false
	recursive := true
	for _, k := range keys {
		val := kv[k]
		allowed, takesValue := mountOptionFor(typ, k)
		if !allowed {
			if k == "source" && typ == "tmpfs" {
				return specs.Mount{}, fmt.Errorf("mount %q: a tmpfs mount takes no source", v)
			}
			return specs.Mount{}, fmt.Errorf("mount %q: %s: invalid mount option", v, k)
		}
		if !takesValue && withValue[k] {
			return specs.Mount{}, fmt.Errorf("mount %q: %s: the option takes no value", v, k)
		}
		switch k {
		case "ro", "rw":
			b := true
			if val != "" {
				var err error
				if b, err = strconv.ParseBool(val); err != nil {
					return specs.Mount{}, fmt.Errorf("mount %q: %s=%s: want true or false", v, k, val)
				}
			}
			ro = b == (k == "ro")
		case "nosuid", "suid", "nodev", "dev", "noexec", "exec",
			"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
			opts = append(opts, k)
		case "bind-propagation":
			if !slices.Contains(propagations, val) {
				return specs.Mount{}, fmt.Errorf("mount %q: bind-propagation=%s: want one of %s", v, val, strings.Join(propagations, ", "))
			}
			opts = append(opts, val)
		case "bind-nonrecursive":
			recursive = false
		case ChownOption:
			if val == "" || val == "true" {
				opts = append(opts, ChownOption)
			} else if val != "false" {
				return specs.Mount{}, fmt.Errorf("mount %q: %s=%s: want true or false", v, k, val)
			}
		}
	}
	if ro {
		opts = append(opts, "ro")
	}
	dst := kv["destination"]
	if dst == "" {
		return specs.Mount{}, fmt.Errorf("mount %q: no destination", v)
	}
	switch typ {
	case "bind":
		if kv["source"] == "" {
			return specs.Mount{}, fmt.Errorf("mount %q: no source", v)
		}
		m, err := bindMount(kv["source"], dst, opts)
		if err == nil && !recursive {
			m.Options[0] = "bind"
		}
		return m, err
	case "volume":
		if kv["source"] == "" {
			return specs.Mount{}, fmt.Errorf("mount %q: no source (the volume's name)", v)
		}
		return volumeMount(kv["source"], dst, opts)
	default: // tmpfs
		if s := kv["tmpfs-size"]; s != "" {
			opts = append(opts, "size="+s)
		}
		if m := kv["tmpfs-mode"]; m != "" {
			opts = append(opts, "mode="+m)
		}
		return ParseTmpfs(dst + ":" + strings.Join(opts, ","))
	}
}

// propagations are the mount propagation modes.
var propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}

// mountOptionFor reports whether --mount of type typ takes option k
// (aliases resolved, as ParseMount does) and whether k takes a value.
func mountOptionFor(typ, k string) (allowed, takesValue bool) {
	switch k {
	case "type", "destination", "source", "ro", "rw", ChownOption, "tmpfs-size", "tmpfs-mode", "bind-propagation", "relabel":
		takesValue = true
	}
	switch k {
	case "type", "destination", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "consistency":
		return true, takesValue || k == "consistency"
	}
	switch typ {
	case "bind":
		return k == "source" || k == ChownOption || k == "bind-propagation" || k == "bind-nonrecursive" ||
			k == "relabel" || k == "z" || k == "Z" || slices.Contains(propagations, k), takesValue
	case "volume":
		return k == "source" || k == ChownOption || k == "nocopy", takesValue
	case "tmpfs":
		return k == "tmpfs-size" || k == "tmpfs-mode" || k == "notmpcopyup", takesValue
	}
	return false, false
}

// mountAlias returns the name ParseMount knows option k by.
func mountAlias(k string) string {
	switch k {
	case "src":
		return "source"
	case "dst", "target":
		return "destination"
	case "readonly":
		return "ro"
	case "chown":
		return ChownOption
	}
	return k
}

// ReservedDestinations are the directories of a container that rless
// mounts itself (its /proc, /sys and /dev): a mount of the user's over one
// of them would leave the container without it, and is refused.
var ReservedDestinations = []string{"/proc", "/sys", "/dev"}

// CheckMountDestination checks the destination of a mount of the user's:
// an absolute path that is not one of ReservedDestinations (a mount under
// one, such as /dev/fuse, is allowed).
func CheckMountDestination(dst string) error {
	if !strings.HasPrefix(dst, "/") {
		return fmt.Errorf("mount destination %q is not an absolute path", dst)
	}
	if c := filepath.Clean(dst); slices.Contains(ReservedDestinations, c) {
		return fmt.Errorf("mount destination %s: rless mounts the container's %s itself; mount elsewhere or under it", dst, c)
	}
	return nil
}
