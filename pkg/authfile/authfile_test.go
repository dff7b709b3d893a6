package authfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFiles(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got := Files(1002, "/home/u", env(nil))
	want := []string{"/run/containers/1002/auth.json", "/home/u/.config/containers/auth.json", "/home/u/.docker/config.json"}
	if !slices.Equal(got, want) {
		t.Errorf("no variables: %q, want %q", got, want)
	}
	got = Files(1002, "/home/u", env(map[string]string{
		"REGISTRY_AUTH_FILE": "/a.json", "XDG_RUNTIME_DIR": "/run/user/1002",
		"XDG_CONFIG_HOME": "/cfg", "DOCKER_CONFIG": "/dock",
	}))
	want = []string{"/a.json", "/run/user/1002/containers/auth.json", "/run/containers/1002/auth.json", "/cfg/containers/auth.json", "/dock/config.json"}
	if !slices.Equal(got, want) {
		t.Errorf("all variables: %q, want %q", got, want)
	}
}

// Find takes the first file that can be read, skipping one in a directory
// the user may not enter (a /run/containers of root's), and ForLogin one
// that can be made.
func TestFind(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root reads every file: run as a user (make test does)")
	}
	dir := t.TempDir()
	locked := filepath.Join(dir, "locked")
	if err := os.MkdirAll(filepath.Join(locked, "containers"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(locked, "containers", "auth.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o755)
	home := filepath.Join(dir, "home")
	t.Setenv("HOME", home)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", locked)
	cfg := filepath.Join(home, ".config", "containers", "auth.json")
	if got := Find(); got != cfg {
		t.Errorf("nothing readable: Find = %q, want the login file %q", got, cfg)
	}
	docker := filepath.Join(home, ".docker", "config.json")
	if err := os.MkdirAll(filepath.Dir(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(docker, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Find(); got != docker {
		t.Errorf("Find = %q, want %q", got, docker)
	}
	if got := ForLogin(); got != cfg {
		t.Errorf("ForLogin = %q, want %q", got, cfg)
	}
	t.Setenv("REGISTRY_AUTH_FILE", "/nowhere/auth.json")
	if got := Find(); got != "/nowhere/auth.json" {
		t.Errorf("with REGISTRY_AUTH_FILE: Find = %q", got)
	}
}
