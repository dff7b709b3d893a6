package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// and volume, source (src) and destination (dst, target) and ro/readonly;
// for tmpfs, destination, tmpfs-size and tmpfs-mode.
func ParseMount(v string) (specs.Mount, error) {
	kv := map[string]string{}
	for _, f := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			val = "true"
		}
		switch k {
		case "src":
			k = "source"
		case "dst", "target":
			k = "destination"
		case "readonly":
			k = "ro"
		}
		kv[k] = val
	}
	dst := kv["destination"]
	if dst == "" {
		return specs.Mount{}, fmt.Errorf("mount %q: no destination", v)
	}
	switch kv["type"] {
	case "bind":
		var opts []string
		if kv["ro"] == "true" || kv["ro"] == "1" {
			opts = append(opts, "ro")
		}
		if kv["source"] == "" {
			return specs.Mount{}, fmt.Errorf("mount %q: no source", v)
		}
		return bindMount(kv["source"], dst, opts)
	case "volume":
		var opts []string
		if kv["ro"] == "true" || kv["ro"] == "1" {
			opts = append(opts, "ro")
		}
		if kv["source"] == "" {
			return specs.Mount{}, fmt.Errorf("mount %q: no source (the volume's name)", v)
		}
		return volumeMount(kv["source"], dst, opts)
	case "tmpfs":
		var opts []string
		if s := kv["tmpfs-size"]; s != "" {
			opts = append(opts, "size="+s)
		}
		if m := kv["tmpfs-mode"]; m != "" {
			opts = append(opts, "mode="+m)
		}
		return ParseTmpfs(dst + ":" + strings.Join(opts, ","))
	case "":
		return specs.Mount{}, errors.New("mount " + v + ": no type")
	default:
		return specs.Mount{}, fmt.Errorf("mount %q: unknown type %q (bind, volume, tmpfs)", v, kv["type"])
	}
}
