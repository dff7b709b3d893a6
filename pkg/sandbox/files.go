package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Protected lists the paths of a project, relative to it, that run code
// later (when git runs, when a shell or an editor enters the project, when
// the sandbox starts again): they are read-only in the sandbox unless
// Profile.AllowWrite names them. A path missing when the sandbox starts is
// made empty (a directory, or a file for the entries of protectedFiles),
// so that nothing can create it, and removed when the last sandbox of the
// project ends (a kept one too) if it is still empty.
var Protected = []string{
	".git/hooks",    // run by git
	".git/config",   // core.hooksPath, core.fsmonitor, aliases, filters
	".git/info",     // attributes selecting filters, exclude
	".git/modules",  // submodules' own hooks and config
	".gitmodules",   // submodule URLs and paths
	".husky",        // hook scripts run through core.hooksPath
	".envrc",        // direnv
	".vscode",       // tasks and settings run by the editor
	".idea",         // the same for JetBrains editors
	".devcontainer", // container definitions editors start
	".rless",        // the sandbox's own profile
	".pre-commit-config.yaml",
}

// protectedPath reports whether rel, relative to a project, is one of
// Protected.
func protectedPath(rel string) bool { return slices.Contains(Protected, rel) }

// protectedFiles are the entries of Protected made as files when missing.
var protectedFiles = []string{".git/config", ".gitmodules", ".envrc", ".pre-commit-config.yaml"}

// guard is one protected path of a project.
type guard struct {
	path string // absolute
	made bool   // made empty by this sandbox
	dir  bool
}

// protect returns the read-only mounts over the protected paths of
// project, except those allow (relative paths) names, making the missing
// ones empty. A path inside .git is only protected when .git is a
// directory; a .git file (a worktree's) is itself protected.
func protect(project string, allow []string) ([]specs.Mount, []guard, error) {
	var mounts []specs.Mount
	var guards []guard
	gitDir := false
	if fi, err := os.Lstat(filepath.Join(project, ".git")); err == nil {
		gitDir = fi.IsDir()
		if fi.Mode().IsRegular() && !allowed(".git", allow) {
			p := filepath.Join(project, ".git")
			mounts = append(mounts, roBind(p))
		}
	}
	for _, rel := range Protected {
		if allowed(rel, allow) || strings.HasPrefix(rel, ".git/") && !gitDir {
			continue
		}
		p := filepath.Join(project, rel)
		g := guard{path: p}
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			g.made, g.dir = true, !slices.Contains(protectedFiles, rel)
			if g.dir {
				err = os.Mkdir(p, 0o755)
			} else {
				var f *os.File
				if f, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
					err = f.Close()
				}
			}
			if err != nil {
				unguard(guards)
				return nil, nil, fmt.Errorf("protect %s: %w", p, err)
			}
		case err != nil:
			unguard(guards)
			return nil, nil, fmt.Errorf("protect %s: %w", p, err)
		case fi.Mode()&os.ModeSymlink != 0:
			// A link is read-only in effect (its target is what counts,
			// and a link cannot be a mount point): replace nothing.
			continue
		default:
			g.dir = fi.IsDir()
		}
		guards = append(guards, g)
		mounts = append(mounts, roBind(p))
	}
	return mounts, guards, nil
}

// unguard removes the protected paths guards made, where still empty.
func unguard(guards []guard) {
	for i := len(guards) - 1; i >= 0; i-- {
		g := guards[i]
		if !g.made {
			continue
		}
		if g.dir {
			os.Remove(g.path) // fails, as it should, unless empty
		} else if fi, err := os.Lstat(g.path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			os.Remove(g.path)
		}
	}
}

// allowed reports whether rel is, or is inside, one of allow.
func allowed(rel string, allow []string) bool {
	for _, a := range allow {
		a = filepath.Clean(a)
		if rel == a || strings.HasPrefix(rel, a+"/") {
			return true
		}
	}
	return false
}

func roBind(p string) specs.Mount {
	return specs.Mount{Destination: p, Type: "bind", Source: p, Options: []string{"bind", "ro", "rprivate"}}
}

func bind(src, dst string, ro bool) specs.Mount {
	o := []string{"rbind", "rprivate"}
	if ro {
		o = append(o, "ro")
	}
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: o}
}

func tmpfs(dst, mode string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=" + mode}}
}

// caches maps the names of Profile.Cache to the paths, relative to the
// home, of the caches they keep.
var caches = map[string][]string{
	"npm":   {".npm"},
	"pip":   {".cache/pip"},
	"cargo": {".cargo/registry", ".cargo/git"},
	"go":    {"go/pkg/mod", ".cache/go-build"},
}

// cacheMount is one cache volume.
type cacheMount struct{ volume, path string }

// parseCache parses an entry of Profile.Cache; paths are relative to the
// home unless absolute.
func parseCache(c string) ([]cacheMount, error) {
	if paths, ok := caches[c]; ok {
		var out []cacheMount
		for i, p := range paths {
			v := "sandbox-cache-" + c
			if i > 0 {
				v += fmt.Sprint("-", i)
			}
			out = append(out, cacheMount{volume: v, path: p})
		}
		return out, nil
	}
	name, path, ok := strings.Cut(c, ":")
	if !ok || name == "" || path == "" {
		return nil, fmt.Errorf("%q: want npm, pip, cargo, go or NAME:PATH", c)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return nil, fmt.Errorf("%q: cache name %q: letters, digits, '-', '_' and '.' only", c, name)
		}
	}
	path = strings.TrimPrefix(path, "~/")
	if filepath.Clean(path) == "." || slices.Contains(strings.Split(filepath.Clean(path), "/"), "..") {
		return nil, fmt.Errorf("%q: path %q: want a directory of the home or an absolute one", c, path)
	}
	return []cacheMount{{volume: "sandbox-cache-" + name, path: path}}, nil
}
