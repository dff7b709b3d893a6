package main

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/cgroups"
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
	fl.StringSliceVar(&f.capAdd, "cap-add", nil, "add capabilities (names with or without CAP_, or ALL)")
	fl.StringSliceVar(&f.capDrop, "cap-drop", nil, "drop capabilities (names with or without CAP_, or ALL)")
	fl.BoolVar(&f.privileged, "privileged", false, "keep every capability of the user namespace, mask no path and filter no syscall (still unprivileged on the host: the namespace's root is your user)")
	fl.StringArrayVar(&f.securityOpts, "security-opt", nil, "no-new-privileges, mask=PATH[:PATH...], unmask=ALL|PATH[:PATH...], seccomp=unconfined|PROFILE.json (Docker/podman format; default: Docker's profile)")
	fl.StringArrayVar(&f.ulimits, "ulimit", nil, "resource limit name=soft[:hard] (nofile, nproc, core, memlock, stack, ...; -1 for unlimited)")
	fl.Int64Var(&f.pidsLimit, "pids-limit", spec.DefaultPidsLimit, "most processes the container may have (0 or -1: no limit); without a delegated cgroup, enforced as RLIMIT_NPROC")
	fl.StringVarP(&f.memory, "memory", "m", "", "memory limit (needs a delegated cgroup v2 subtree)")
	fl.StringVar(&f.cpus, "cpus", "", "CPU limit (needs a delegated cgroup v2 subtree)")
	fl.StringVar(&f.cgroups, "cgroups", "enabled", "enabled, or disabled to run without cgroup limits")
}

// apply fills o's confinement and limits from the flags.
func (f *securityFlags) apply(o *spec.Options) error {
	var err error
	if o.Capabilities, err = spec.Capabilities(f.capAdd, f.capDrop, f.privileged); err != nil {
		return err
	}
	var mask, unmask []string
	for _, opt := range f.securityOpts {
		key, val, ok := strings.Cut(opt, "=")
		if !ok {
			key, val, _ = strings.Cut(opt, ":") // Docker's older seccomp:FILE
		}
		switch key {
		case "no-new-privileges":
			o.NoNewPrivileges = val == "" || val == "true"
			if val != "" && val != "true" && val != "false" {
				return fmt.Errorf("--security-opt %s: want true or false", opt)
			}
		case "mask":
			mask = append(mask, strings.Split(val, ":")...)
		case "unmask":
			unmask = append(unmask, strings.Split(val, ":")...)
		case "seccomp":
			if val == "" {
				return fmt.Errorf("--security-opt %s: want seccomp=unconfined or seccomp=PROFILE.json", opt)
			}
			o.Seccomp = val
		case "label", "apparmor":
			// No SELinux or AppArmor confinement here: accepted as podman does without them.
		default:
			return fmt.Errorf("--security-opt %q: unknown option", opt)
		}
	}
	o.MaskedPaths, o.ReadonlyPaths = spec.MaskedAndReadonly(mask, unmask, f.privileged)
	if f.privileged && o.Seccomp == "" {
		o.Seccomp = spec.SeccompUnconfined // as podman: no filter unless one is asked for
	}
	return f.limits(o)
}

// limits fills o.Rlimits from --ulimit and --pids-limit, and refuses the
// limits this host cannot enforce.
func (f *securityFlags) limits(o *spec.Options) error {
	haveNproc := false
	for _, u := range f.ulimits {
		r, err := spec.ParseUlimit(u)
		if err != nil {
			return fmt.Errorf("--ulimit: %w", err)
		}
		haveNproc = haveNproc || r.Type == "RLIMIT_NPROC"
		o.Rlimits = append(o.Rlimits, r)
	}
	switch f.cgroups {
	case "enabled", "disabled":
	default:
		return fmt.Errorf("--cgroups %q: want enabled or disabled", f.cgroups)
	}
	var d cgroups.Delegation
	if f.cgroups == "enabled" {
		d = cgroups.Detect()
	}
	res := &specs.LinuxResources{}
	if f.memory != "" && f.cgroups == "enabled" {
		n, err := parseBytes(f.memory)
		if err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
		if !d.Available("memory") {
			return fmt.Errorf("--memory needs a delegated cgroup v2 memory controller: %s (--cgroups=disabled runs without the limit)", d.Reason("memory"))
		}
		res.Memory = &specs.LinuxMemory{Limit: &n}
	}
	if f.cpus != "" && f.cgroups == "enabled" {
		cpus, err := strconv.ParseFloat(f.cpus, 64)
		if err != nil || cpus <= 0 {
			return fmt.Errorf("--cpus %q: want a positive number", f.cpus)
		}
		if !d.Available("cpu") {
			return fmt.Errorf("--cpus needs a delegated cgroup v2 cpu controller: %s (--cgroups=disabled runs without the limit)", d.Reason("cpu"))
		}
		quota, period := int64(cpus*100000), uint64(100000)
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	// The pids limit: in the cgroup when there is one, else RLIMIT_NPROC
	// (counted per user namespace); an explicit --ulimit nproc is kept too.
	if f.pidsLimit > 0 && d.Available("pids") {
		limit := f.pidsLimit
		res.Pids = &specs.LinuxPids{Limit: &limit}
	} else if r, ok := spec.PidsRlimit(f.pidsLimit); ok && !haveNproc {
		o.Rlimits = append(o.Rlimits, r)
	}
	if res.Memory != nil || res.CPU != nil || res.Pids != nil {
		o.Resources = res
	}
	return nil
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
