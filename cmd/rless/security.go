package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rless/rless/pkg/engine"
	"github.com/rless/rless/pkg/spec"
	"github.com/spf13/pflag"
)

// securityFlags are run's confinement and resource flags.
type securityFlags struct {
	capAdd, capDrop []string
	privileged      bool
	securityOpts    []string
	ulimits         []string
	pidsLimit       int64
	memory          string
	cpus            string
	cgroups         string
}

func (f *securityFlags) register(fl *pflag.FlagSet) {
	stringsVar(fl, &f.capAdd, "cap-add", "", "add capabilities (names with or without CAP_, or ALL)", true)
	stringsVar(fl, &f.capDrop, "cap-drop", "", "drop capabilities (names with or without CAP_, or ALL)", true)
	fl.BoolVar(&f.privileged, "privileged", false, "keep every capability of the user namespace, mask no path and filter no syscall (still unprivileged on the host: the namespace's root is your user)")
	stringsVar(fl, &f.securityOpts, "security-opt", "", "no-new-privileges, mask=PATH[:PATH...], unmask=ALL|PATH[:PATH...], seccomp=unconfined|PROFILE.json (Docker/podman format; default: Docker's profile)", false)
	stringsVar(fl, &f.ulimits, "ulimit", "", "resource limit name=soft[:hard] (nofile, nproc, core, memlock, stack, ...; -1 for unlimited)", false)
	fl.Int64Var(&f.pidsLimit, "pids-limit", spec.DefaultPidsLimit, "most processes the container may have (0 or -1: no limit); without a delegated cgroup, enforced as RLIMIT_NPROC")
	fl.StringVarP(&f.memory, "memory", "m", "", "memory limit (needs a delegated cgroup v2 subtree)")
	fl.StringVar(&f.cpus, "cpus", "", "CPU limit (needs a delegated cgroup v2 subtree)")
	fl.StringVar(&f.cgroups, "cgroups", "enabled", "enabled, or disabled to run without cgroup limits")
}

// apply returns the engine's confinement and limits from the flags.
func (f *securityFlags) apply() (engine.Security, engine.Limits, error) {
	sec := engine.Security{CapAdd: f.capAdd, CapDrop: f.capDrop, Privileged: f.privileged}
	for _, opt := range f.securityOpts {
		key, val, ok := strings.Cut(opt, "=")
		if !ok {
			key, val, _ = strings.Cut(opt, ":") // Docker's older seccomp:FILE
		}
		switch key {
		case "no-new-privileges":
			sec.NoNewPrivileges = val == "" || val == "true"
			if val != "" && val != "true" && val != "false" {
				return sec, engine.Limits{}, fmt.Errorf("--security-opt %s: want true or false", opt)
			}
		case "mask":
			sec.Mask = append(sec.Mask, strings.Split(val, ":")...)
		case "unmask":
			sec.Unmask = append(sec.Unmask, strings.Split(val, ":")...)
		case "seccomp":
			if val == "" {
				return sec, engine.Limits{}, fmt.Errorf("--security-opt %s: want seccomp=unconfined or seccomp=PROFILE.json", opt)
			}
			sec.Seccomp = val
		case "label", "apparmor":
			// No SELinux or AppArmor confinement here: accepted as podman does without them.
		default:
			return sec, engine.Limits{}, fmt.Errorf("--security-opt %q: unknown option", opt)
		}
	}
	lim, err := f.limits()
	return sec, lim, err
}

// limits returns the limits of --ulimit, --pids-limit, --memory, --cpus
// and --cgroups.
func (f *securityFlags) limits() (engine.Limits, error) {
	var lim engine.Limits
	for _, u := range f.ulimits {
		r, err := spec.ParseUlimit(u)
		if err != nil {
			return lim, fmt.Errorf("--ulimit: %w", err)
		}
		lim.Rlimits = append(lim.Rlimits, r)
	}
	switch f.cgroups {
	case "enabled":
	case "disabled":
		lim.NoCgroups = true
	default:
		return lim, fmt.Errorf("--cgroups %q: want enabled or disabled", f.cgroups)
	}
	lim.Pids = f.pidsLimit
	if lim.Pids == 0 {
		lim.Pids = -1 // as podman: 0 is no limit
	}
	if f.memory != "" {
		n, err := parseBytes(f.memory)
		if err != nil {
			return lim, fmt.Errorf("--memory: %w", err)
		}
		lim.Memory = n
	}
	if f.cpus != "" {
		cpus, err := strconv.ParseFloat(f.cpus, 64)
		if err != nil || cpus <= 0 {
			return lim, fmt.Errorf("--cpus %q: want a positive number", f.cpus)
		}
		lim.CPUs = cpus
	}
	return lim, nil
}

// parseBytes parses a size as podman does: a number with an optional unit
// b, k, m or g (powers of 1024).
func parseBytes(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "g"):
		mult, s = 1<<30, strings.TrimSuffix(s, "g")
	case strings.HasSuffix(s, "m"):
		mult, s = 1<<20, strings.TrimSuffix(s, "m")
	case strings.HasSuffix(s, "k"):
		mult, s = 1<<10, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "b"):
		s = strings.TrimSuffix(s, "b")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}
