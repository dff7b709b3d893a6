package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeProfile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sandbox.toml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadProfile(t *testing.T) {
	p, err := LoadProfile(writeProfile(t, `
# a project's sandbox
network = "allowlist"
allow = ["github.com", "*.npmjs.org:443", "10.0.0.0/8"]
env = ["CI=1"]
pass_env = ["GOPROXY"]
cache = ["npm", "tools:~/.tools"]
ephemeral = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Allow) != 3 || !p.Ephemeral || p.Cache[1] != "tools:~/.tools" {
		t.Errorf("profile: %+v", p)
	}
	for _, c := range []struct {
		content string
		line    int
		key     string
	}{
		{"network = \"none\"\n\n  bogus = 1\n", 3, "bogus"},
		{"[extra]\nx = 1\n", 1, "extra"},
		{"network = \"none\"\nnetwork_mode = \"x\"\n", 2, "network_mode"},
		{"env = [\"=x\"]\n", 1, "env"},
		{"pass_env = [\"A-B\"]\n", 1, "pass_env"},
		{"\ncache = [\"weird\"]\n", 2, "cache"},
		{"allow = [\"*\"]\n", 1, "allow"},
		{"network = \"none\"\nallow = [\"a.com\"]\n", 2, "allow"},
		{"allow_write = [\"../x\"]\n", 1, "allow_write"},
		{"ephemeral = \"yes\"\n", 1, "ephemeral"},
		{"keep_running = true\nephemeral = true\n", 2, "ephemeral"},
	} {
		_, err := LoadProfile(writeProfile(t, c.content))
		var pe *ProfileError
		if !errors.As(err, &pe) {
			t.Errorf("%q: got %v, want a ProfileError", c.content, err)
			continue
		}
		if pe.Line != c.line || pe.Key != c.key {
			t.Errorf("%q: error %q: line %d key %q, want line %d key %q", c.content, err, pe.Line, pe.Key, c.line, c.key)
		}
	}
}

func TestMerge(t *testing.T) {
	file := Profile{Network: NetworkAllowlist, Allow: []string{"a.com"}, Ephemeral: true}
	flags := Profile{Allow: []string{"b.com"}, Network: NetworkFull, Command: []string{"make"}}
	m := file.Merge(flags)
	if !slices.Equal(m.Allow, []string{"a.com", "b.com"}) || m.Network != NetworkFull || !m.Ephemeral || m.Command[0] != "make" {
		t.Errorf("merged: %+v", m)
	}
	if len(file.Allow) != 1 {
		t.Error("Merge changed its receiver's lists")
	}
	data, err := m.Encode()
	if err != nil || !strings.Contains(string(data), `allow = ["a.com", "b.com"]`) {
		t.Errorf("Encode: %v\n%s", err, data)
	}
}

func TestEnviron(t *testing.T) {
	host := []string{"PATH=/bin", "HOME=/h", "LC_ALL=C", "GITHUB_TOKEN=secret", "AWS_SECRET_ACCESS_KEY=k", "GOPROXY=off", "TERM=xterm"}
	got := environ(host, Profile{PassEnv: []string{"GOPROXY"}, Env: []string{"CI=1"}})
	want := []string{"PATH=/bin", "HOME=/h", "LC_ALL=C", "GOPROXY=off", "TERM=xterm", "CI=1"}
	if !slices.Equal(got, want) {
		t.Errorf("environ: %q, want %q", got, want)
	}
}

func TestProtect(t *testing.T) {
	project := t.TempDir()
	os.MkdirAll(filepath.Join(project, ".git", "hooks"), 0o755)
	os.WriteFile(filepath.Join(project, ".git", "config"), nil, 0o644)
	os.WriteFile(filepath.Join(project, ".envrc"), []byte("export X=1\n"), 0o644)
	mounts, guards, err := protect(project, []string{".vscode"})
	if err != nil {
		t.Fatal(err)
	}
	var dests []string
	for _, m := range mounts {
		if !slices.Contains(m.Options, "ro") || m.Source != m.Destination {
			t.Errorf("mount %+v: want a read-only bind of the path on itself", m)
		}
		dests = append(dests, strings.TrimPrefix(m.Destination, project+"/"))
	}
	for _, want := range []string{".git/hooks", ".git/config", ".git/info", ".envrc", ".rless", ".husky"} {
		if !slices.Contains(dests, want) {
			t.Errorf("%s not protected: %v", want, dests)
		}
	}
	if slices.Contains(dests, ".vscode") {
		t.Error(".vscode protected though allowed")
	}
	if fi, err := os.Stat(filepath.Join(project, ".rless")); err != nil || !fi.IsDir() {
		t.Errorf(".rless not made for the sandbox's time: %v", err)
	}
	// Something written into a made path (as by the host meanwhile) stays.
	os.WriteFile(filepath.Join(project, ".husky", "keep"), nil, 0o644)
	unguard(guards)
	for _, p := range []string{".rless", ".git/info", ".gitmodules"} {
		if _, err := os.Lstat(filepath.Join(project, p)); err == nil {
			t.Errorf("%s left after unguard", p)
		}
	}
	for _, p := range []string{".envrc", ".git/hooks", ".husky/keep"} {
		if _, err := os.Lstat(filepath.Join(project, p)); err != nil {
			t.Errorf("%s removed by unguard: %v", p, err)
		}
	}
	// Without a .git directory, nothing inside .git is protected.
	bare := t.TempDir()
	mounts, guards, err = protect(bare, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unguard(guards)
	for _, m := range mounts {
		if strings.Contains(m.Destination, "/.git/") {
			t.Errorf("protected %s without a .git directory", m.Destination)
		}
	}
}

func TestParseCache(t *testing.T) {
	cm, err := parseCache("go")
	if err != nil || len(cm) != 2 || cm[0].path != "go/pkg/mod" || cm[0].volume == cm[1].volume {
		t.Errorf("go: %+v %v", cm, err)
	}
	if cm, err := parseCache("m2:~/.m2/repository"); err != nil || cm[0].path != ".m2/repository" || cm[0].volume != "sandbox-cache-m2" {
		t.Errorf("m2: %+v %v", cm, err)
	}
	for _, bad := range []string{"", "x", "a b:/c", "n:~/../x", "n:"} {
		if _, err := parseCache(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestKeptName(t *testing.T) {
	for dir, want := range map[string]string{
		"/store/sandbox/web-0123456789ab":      "sandbox-web-0123456789ab",
		"/store/sandbox/my app é-0123456789ab": "sandbox-my_app___-0123456789ab",
	} {
		if got := KeptName(dir); got != want {
			t.Errorf("KeptName(%q) = %q, want %q", dir, got, want)
		}
	}
}

// TestRemoveMade: the protected paths recorded as made go when still
// empty; a changed one, and a path no sandbox makes, stay.
func TestRemoveMade(t *testing.T) {
	dir, project := t.TempDir(), t.TempDir()
	_, guards, err := protect(project, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := recordMade(dir, guards); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, ".envrc"), []byte("export X=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(project, "src")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, madeFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(other + "\n")
	f.Close()
	removeMade(dir, project)
	for _, p := range []string{".vscode", ".husky", ".gitmodules"} {
		if _, err := os.Lstat(filepath.Join(project, p)); err == nil {
			t.Errorf("%s left", p)
		}
	}
	for _, p := range []string{".envrc", "src"} {
		if _, err := os.Lstat(filepath.Join(project, p)); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, madeFile)); err == nil {
		t.Error("the list is left")
	}
}
