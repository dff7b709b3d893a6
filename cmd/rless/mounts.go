package main

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/spec"
	"github.com/spf13/cobra"
)

// imageFlags are run's flags for containers made from images.
type imageFlags struct {
	pull       string
	entrypoint string
	volumes    []string
	tmpfs      []string
	mounts     []string
	retry      retryFlags
}

func (f *imageFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.pull, "pull", "missing", "pull the image: missing (when not in the store), always, newer (as always: present layers are not fetched again) or never")
	f.retry.register(fl)
	fl.StringVar(&f.entrypoint, "entrypoint", "", "override the image's entrypoint (\"\" clears it); the image's command goes with it")
	stringsVar(fl, &f.volumes, "volume", "v", "bind mount HOST-PATH:CONTAINER-PATH[:ro|rw|U|z|Z] (the host path must exist; U gives it to the container's user), or mount the named volume VOLUME:CONTAINER-PATH[:OPTIONS] (created when missing)", false)
	stringsVar(fl, &f.tmpfs, "tmpfs", "", "mount a tmpfs at CONTAINER-PATH[:OPTIONS]", false)
	stringsVar(fl, &f.mounts, "mount", "", "mount type=bind|volume,source=HOST-PATH|VOLUME,destination=PATH[,ro] or type=tmpfs,destination=PATH[,tmpfs-size=N]", false)
}

// userMounts returns the mounts of -v, --tmpfs and --mount.
func (f *imageFlags) userMounts() ([]specs.Mount, error) {
	var out []specs.Mount
	for _, set := range []struct {
		vals  []string
		parse func(string) (specs.Mount, error)
	}{{f.volumes, spec.ParseVolume}, {f.tmpfs, spec.ParseTmpfs}, {f.mounts, spec.ParseMount}} {
		for _, v := range set.vals {
			m, err := set.parse(v)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
	}
	return out, nil
}
