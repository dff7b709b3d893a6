package oci

import (
	"runtime"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/rless/rless/pkg/cgroups"
	"github.com/rless/rless/pkg/rootfs"
)

// Features returns what this runtime supports, as the runtime spec's
// features document (runc features): what rless really does here.
func Features() features.Features {
	yes, no := true, false
	var caps []string
	for _, c := range capability.ListKnown() {
		caps = append(caps, "CAP_"+upper(c.String()))
	}
	d := cgroups.Detect()
	v2 := d.Dir != ""
	return features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		// Hooks: none are run; a spec with hooks is refused.
		Hooks:        []string{},
		MountOptions: rootfs.MountOptions(),
		Linux: &features.Linux{
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "user", "uts"},
			Capabilities: caps,
			Cgroup:       &features.Cgroup{V1: &no, V2: &v2, Systemd: &no, SystemdUser: &no},
			Seccomp: &features.Seccomp{
				Enabled: &yes,
				Actions: []string{
					string(specs.ActAllow), string(specs.ActErrno), string(specs.ActKill), string(specs.ActKillProcess),
					string(specs.ActKillThread), string(specs.ActLog), string(specs.ActTrace), string(specs.ActTrap),
				},
				Operators: []string{
					string(specs.OpEqualTo), string(specs.OpGreaterEqual), string(specs.OpGreaterThan), string(specs.OpLessEqual),
					string(specs.OpLessThan), string(specs.OpMaskedEqual), string(specs.OpNotEqual),
				},
				Archs: seccompArchs(),
			},
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &no}},
			NetDevices:      &features.NetDevices{Enabled: &no},
		},
		Annotations: map[string]string{"io.github.rless.version": Version},
	}
}

// Version is rless's version as Features reports it; the rless command
// sets it to its own.
var Version = "dev"

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// seccompArchs are the architectures whose calls a filter compiled here
// tells apart: the native one and those it runs.
func seccompArchs() []string {
	switch runtime.GOARCH {
	case "amd64":
		return []string{string(specs.ArchX86_64), string(specs.ArchX86), string(specs.ArchX32)}
	case "arm64":
		return []string{string(specs.ArchAARCH64), string(specs.ArchARM)}
	}
	return []string{}
}
