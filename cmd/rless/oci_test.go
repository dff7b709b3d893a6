package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRuntimeArgs(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "abc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "abc", "state.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := ociDefaultRoot
	ociDefaultRoot = func() string { return root }
	defer func() { ociDefaultRoot = old }()
	for _, c := range []struct {
		argv0 string
		args  []string
		oci   bool
	}{
		{"/usr/bin/runc", []string{"state", "x"}, true},
		{"rless-runtime", []string{"ps"}, true},
		{"rless", []string{"ps"}, false},
		{"rless", []string{"--root", "/x", "ps", "-a"}, false},
		{"rless", []string{"--log", "/l", "--log-format", "json", "create", "--bundle", "b", "x"}, true},
		{"rless", []string{"--systemd-cgroup", "start", "x"}, true},
		{"rless", []string{"create", "--bundle", "/b", "--pid-file", "/p", "x"}, true},
		{"rless", []string{"create", "--name", "x", "alpine"}, false},
		{"rless", []string{"run", "-b=/b", "x"}, true},
		{"rless", []string{"exec", "--pid-file", "/p", "--process", "/f", "--detach", "x"}, true},
		{"rless", []string{"exec", "-it", "web", "sh"}, false},
		{"rless", []string{"delete", "--force", "x"}, true},
		{"rless", []string{"state", "x"}, true},
		{"rless", []string{"start", "abc"}, true},
		{"rless", []string{"kill", "abc", "15"}, true},
		{"rless", []string{"start", "web"}, false},
		{"rless", []string{"kill", "-s", "TERM", "web"}, false},
		{"rless", []string{"--root", root, "start", "abc"}, true},
		{"rless", []string{"--root", "/elsewhere", "start", "abc"}, false},
		{"rless", []string{"--log-level", "debug", "start", "web"}, false},
	} {
		got, ok := runtimeArgs(c.argv0, c.args)
		if ok != c.oci {
			t.Errorf("%s %v: runtime %v, want %v", c.argv0, c.args, ok, c.oci)
		}
		if ok && !slices.Equal(got, append([]string{"oci"}, c.args...)) {
			t.Errorf("%s %v: args %v", c.argv0, c.args, got)
		}
	}
	if got, _ := runtimeArgs("runc", []string{"--version"}); !slices.Equal(got, []string{"oci", "version"}) {
		t.Errorf("runc --version: %v", got)
	}
}
