package main

import (
	"testing"

	"github.com/rless/rless/pkg/spec"
)

func TestParseBytes(t *testing.T) {
	good := map[string]int64{"1": 1, "512b": 512, "4k": 4096, "512m": 512 << 20, "2G": 2 << 30}
	for in, want := range good {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "1x", "-1m", "0"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q): no error", bad)
		}
	}
}

func TestSecurityFlags(t *testing.T) {
	f := securityFlags{pidsLimit: spec.DefaultPidsLimit, cgroups: "disabled",
		securityOpts: []string{"no-new-privileges", "unmask=/proc/keys", "mask=/secret", "seccomp:/p.json"},
		ulimits:      []string{"nofile=10:20"}, memory: "1g"}
	sec, lim, err := f.apply()
	if err != nil {
		t.Fatal(err)
	}
	if !sec.NoNewPrivileges || sec.Seccomp != "/p.json" || !lim.NoCgroups || lim.Memory != 1<<30 || lim.Pids != spec.DefaultPidsLimit {
		t.Errorf("security %+v, limits %+v", sec, lim)
	}
	if len(lim.Rlimits) != 1 || lim.Rlimits[0].Type != "RLIMIT_NOFILE" {
		t.Errorf("rlimits %+v", lim.Rlimits)
	}
	for _, bad := range [][]string{{"bogus"}, {"no-new-privileges=maybe"}, {"seccomp="}} {
		f := securityFlags{cgroups: "enabled", securityOpts: bad}
		if _, _, err := f.apply(); err == nil {
			t.Errorf("--security-opt %v: no error", bad)
		}
	}
}
