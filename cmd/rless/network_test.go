package main

import (
	"testing"

	"github.com/rless/rless/pkg/engine"
	"github.com/rless/rless/pkg/network"
)

func TestNetworkErrors(t *testing.T) {
	// The flag's name in front of the library's "network ...".
	for bad, want := range map[string]string{
		"bogus":       `--network "bogus": want slirp[:OPTIONS], none, host, slirp4netns[:OPTIONS] or pasta[:ARGS]`,
		"none:x":      "--network none:x: none takes no options",
		"slirp:mtu=1": "--network slirp:mtu=1: network: mtu 1: want 1280..65520",
	} {
		_, err := network.ParseMode(bad, nil, false, nil)
		if err == nil || runError(err).Error() != want {
			t.Errorf("--network %s: error %v, want %q", bad, err, want)
		}
	}
	if err := runError(&engine.LimitError{Limit: "cpu", Reason: "no"}); err.Error() != "--cpus needs a delegated cgroup v2 cpu controller: no (--cgroups=disabled runs without the limit)" {
		t.Errorf("limit error: %v", err)
	}
	for _, v := range []string{"keep-id:uid=1,gid=2", "keep-id", "host", ""} {
		if _, err := engine.ParseUserns(v); err != nil {
			t.Errorf("--userns=%s: %v", v, err)
		}
	}
}
