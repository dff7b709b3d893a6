package test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// authProxy is the test registry behind HTTP basic authentication.
func authProxy(t *testing.T, user, pass string) string {
	t.Helper()
	registry(t)
	target, _ := url.Parse("http://" + regAddr)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="rless-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestLoginLogout(t *testing.T) {
	addr := authProxy(t, "alice", "s3cret")
	root := imageStore(t)
	authFile := filepath.Join(t.TempDir(), "auth.json")
	with := func(args ...string) result {
		cmd := imgCmd(root, args...)
		cmd.Env = append(cmd.Env, "REGISTRY_AUTH_FILE="+authFile)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Stdin = strings.NewReader("s3cret\n")
		err := cmd.Run()
		code := 0
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{stdout.String(), stderr.String(), code}
	}
	ref := addr + "/" + sharedRef
	if r := with("pull", "--tls-verify=false", ref); r.code != 125 || !strings.Contains(r.stderr, "unauthorized") {
		t.Fatalf("pull without credentials: exit %d\n%s", r.code, r.stderr)
	}
	if r := with("login", "--tls-verify=false", "-u", "alice", "-p", "wrong", addr); r.code != 125 {
		t.Errorf("login with a wrong password: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(authFile); err == nil {
		t.Error("a failed login wrote credentials")
	}
	if r := with("login", "--tls-verify=false", "-u", "alice", "--password-stdin", addr); r.code != 0 || r.stdout != "Login Succeeded!\n" {
		t.Fatalf("login: exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
	if r := with("login", "--get-login", addr); r.stdout != "alice\n" {
		t.Errorf("login --get-login: %q %s", r.stdout, r.stderr)
	}
	if r := with("pull", "-q", "--tls-verify=false", ref); r.code != 0 {
		t.Fatalf("pull with credentials: exit %d\n%s", r.code, r.stderr)
	}
	if r := with("logout", addr); r.code != 0 || r.stdout != "Removed login credentials for "+addr+"\n" {
		t.Errorf("logout: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := with("logout", addr); r.code != 125 || !strings.Contains(r.stderr, "not logged into") {
		t.Errorf("second logout: exit %d %s", r.code, r.stderr)
	}
	// --creds works without a login.
	mustImg(t, root, "rmi", "-f", ref)
	if r := with("pull", "-q", "--tls-verify=false", "--creds", "alice:s3cret", ref); r.code != 0 {
		t.Errorf("pull --creds: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRegistriesConf: aliases and blocked registries of registries.conf.
func TestRegistriesConf(t *testing.T) {
	registry(t)
	root := imageStore(t)
	conf := filepath.Join(t.TempDir(), "registries.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`unqualified-search-registries = ["%[1]s"]
short-name-mode = "enforcing"

[aliases]
"myshared" = "%[1]s/rless/shared"

[[registry]]
location = "%[1]s"
insecure = true

[[registry]]
location = "blocked.example"
blocked = true
`, regAddr)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) result {
		cmd := imgCmd(root, args...)
		cmd.Env = append(cmd.Env, "CONTAINERS_REGISTRIES_CONF="+conf)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	}
	r := run("pull", "myshared")
	if r.code != 0 || !strings.Contains(r.stderr, "Trying to pull "+regAddr+"/rless/shared:latest") {
		t.Errorf("pull of an alias: exit %d\n%s", r.code, r.stderr)
	}
	r = run("pull", "rless/multilayer")
	if r.code != 0 || !strings.Contains(r.stderr, regAddr+"/rless/multilayer:latest") {
		t.Errorf("pull through the search registry: exit %d\n%s", r.code, r.stderr)
	}
	if r = run("pull", "blocked.example/x/y"); r.code != 125 || !strings.Contains(r.stderr, "blocked") {
		t.Errorf("pull from a blocked registry: exit %d\n%s", r.code, r.stderr)
	}
}

// TestCredentialsLookup: without $REGISTRY_AUTH_FILE and
// $XDG_RUNTIME_DIR, credentials are found where podman finds them, looked
// up as the user (never uid 0's /run/containers/0, which a root who has
// run podman keeps mode 0700): ~/.docker/config.json is read, and a login
// writes $XDG_CONFIG_HOME/containers/auth.json.
func TestCredentialsLookup(t *testing.T) {
	addr := authProxy(t, "alice", "s3cret")
	root := imageStore(t)
	home := t.TempDir()
	with := func(env []string, args ...string) result {
		cmd := imgCmd(root, args...)
		cmd.Env = slices.DeleteFunc(cmd.Env, func(e string) bool {
			return strings.HasPrefix(e, "REGISTRY_AUTH_FILE=") || strings.HasPrefix(e, "XDG_RUNTIME_DIR=") ||
				strings.HasPrefix(e, "XDG_CONFIG_HOME=") || strings.HasPrefix(e, "DOCKER_CONFIG=") || strings.HasPrefix(e, "HOME=")
		})
		cmd.Env = append(append(cmd.Env, "HOME="+home), env...)
		return runCmd(t, cmd)
	}
	ref := addr + "/" + sharedRef
	docker := filepath.Join(home, ".docker", "config.json")
	if err := os.MkdirAll(filepath.Dir(docker), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := `{"auths":{"` + addr + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) + `"}}}`
	if err := os.WriteFile(docker, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := with(nil, "pull", "-q", "--tls-verify=false", ref); r.code != 0 {
		t.Fatalf("pull with ~/.docker/config.json: exit %d\n%s", r.code, r.stderr)
	}
	mustImg(t, root, "rmi", "-f", ref)
	if err := os.Remove(docker); err != nil {
		t.Fatal(err)
	}
	if r := with(nil, "pull", "-q", "--tls-verify=false", ref); r.code != 125 || !strings.Contains(r.stderr, "unauthorized") {
		t.Fatalf("pull without credentials: exit %d\n%s", r.code, r.stderr)
	}
	xdgConfig := filepath.Join(home, "cfg")
	env := []string{"XDG_CONFIG_HOME=" + xdgConfig}
	if r := with(env, "login", "--tls-verify=false", "-u", "alice", "-p", "s3cret", addr); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(xdgConfig, "containers", "auth.json")); err != nil {
		t.Errorf("login wrote no $XDG_CONFIG_HOME/containers/auth.json: %v", err)
	}
	if r := with(env, "login", "--get-login", addr); r.stdout != "alice\n" {
		t.Errorf("login --get-login: %q %s", r.stdout, r.stderr)
	}
	if r := with(env, "pull", "-q", "--tls-verify=false", ref); r.code != 0 {
		t.Errorf("pull after login: exit %d\n%s", r.code, r.stderr)
	}
	if r := with(env, "logout", addr); r.code != 0 {
		t.Errorf("logout: exit %d %s", r.code, r.stderr)
	}
}
