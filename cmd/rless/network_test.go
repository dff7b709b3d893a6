package main

import (
	"testing"
)

func TestParseNetwork(t *testing.T) {
	f := &netFlags{network: "slirp:mtu=1500", publishAll: true, publish: []string{"8080:80"}}
	m, err := f.parse(map[string]struct{}{"53/udp": {}, "9000/tcp": {}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "slirp" || m.Config.MTU != 1500 || len(m.Ports) != 3 {
		t.Errorf("parsed %+v", m)
	}
	// The flag's name in front of the library's "network ...".
	for bad, want := range map[string]string{
		"bogus":       `--network "bogus": want slirp[:OPTIONS], none, host, slirp4netns[:OPTIONS] or pasta[:ARGS]`,
		"none:x":      "--network none:x: none takes no options",
		"slirp:mtu=1": "--network slirp:mtu=1: network: mtu 1: want 1280..65520",
	} {
		if _, err := (&netFlags{network: bad}).parse(nil); err == nil || err.Error() != want {
			t.Errorf("--network %s: error %v, want %q", bad, err, want)
		}
	}
	for _, v := range []string{"keep-id:uid=1,gid=2", "keep-id", "host", ""} {
		if _, err := parseUserns(v); err != nil {
			t.Errorf("--userns=%s: %v", v, err)
		}
	}
}
