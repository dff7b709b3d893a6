// Package authfile finds a user's registry credentials file where podman
// finds it, looked up as the user (never as uid 0 of a user namespace,
// whose /run/containers/0 is root's).
package authfile

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Files returns the credentials files podman looks at, in its order,
// for the user of uid with environment getenv (os.Getenv):
// $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
// /run/containers/UID/auth.json, $XDG_CONFIG_HOME/containers/auth.json
// (default ~/.config) and ~/.docker/config.json ($DOCKER_CONFIG's where
// set). Unset variables leave their entry out.
func Files(uid int, home string, getenv func(string) string) []string {
	var files []string
	if f := getenv("REGISTRY_AUTH_FILE"); f != "" {
		files = append(files, f)
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	}
	files = append(files, fmt.Sprintf("/run/containers/%d/auth.json", uid))
	cfg := getenv("XDG_CONFIG_HOME")
	if cfg == "" && home != "" {
		cfg = filepath.Join(home, ".config")
	}
	if cfg != "" {
		files = append(files, filepath.Join(cfg, "containers", "auth.json"))
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		files = append(files, filepath.Join(d, "config.json"))
	} else if home != "" {
		files = append(files, filepath.Join(home, ".docker", "config.json"))
	}
	return files
}

// Find returns the credentials file to read, looked up as the
// calling user (before any user namespace, where the paths would be uid
// 0's): the first of Files that exists and can be read. Those that
// cannot be read (a /run/containers of root's, mode 0700) are skipped with
// a debug line. $REGISTRY_AUTH_FILE, when set, is the file, as in podman.
// With none, it returns the file a login would make
// (ForLogin), which does not exist: nothing is read.
func Find() string {
	if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" {
		return f // podman's too: that file and no other
	}
	home, _ := os.UserHomeDir()
	files := Files(os.Getuid(), home, os.Getenv)
	for _, f := range files {
		err := unix.Access(f, unix.R_OK)
		if err == nil {
			return f
		}
		if !errors.Is(err, fs.ErrNotExist) {
			slog.Debug("credentials file skipped", "file", f, "err", err)
		}
	}
	return ForLogin()
}

// ForLogin returns the credentials file a login writes when none exists
// yet: the first of Files (after $REGISTRY_AUTH_FILE, which is taken
// as it is) whose directory exists and is writable or can be made, so
// $XDG_RUNTIME_DIR's, /run/containers/UID's only where the system made it
// for the user, else ~/.config/containers/auth.json.
func ForLogin() string {
	if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" {
		return f
	}
	home, _ := os.UserHomeDir()
	files := Files(os.Getuid(), home, os.Getenv)
	for _, f := range files {
		if unix.Access(f, unix.W_OK) == nil || writableDir(filepath.Dir(f)) {
			return f
		}
	}
	return files[len(files)-1]
}

// writableDir reports whether dir, or the nearest of its parents that
// exists, is a directory the caller may write in: a file can be made
// there.
func writableDir(dir string) bool {
	for {
		err := unix.Access(dir, unix.W_OK|unix.X_OK)
		if err == nil {
			return true
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}
