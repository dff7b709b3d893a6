// Package busybox builds small root filesystems from the host's static
// busybox (Debian's busybox-static), for rless's tests and benchmarks.
package busybox

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Path is the busybox the root filesystems are made from.
const Path = "/bin/busybox"

// Rootfs makes dir a root filesystem: bin/busybox with a symlink to it for
// each applet, empty proc, sys, dev, root and a sticky tmp, and
// etc/passwd and etc/group naming root. files adds or replaces files, by
// path relative to dir.
func Rootfs(dir string, files map[string]string) error {
	out, err := exec.Command(Path, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w (install busybox-static)", Path, err)
	}
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), os.ModeSticky|0o777); err != nil {
		return err
	}
	if err := copyFile(Path, filepath.Join(dir, "bin", "busybox"), 0o755); err != nil {
		return err
	}
	for _, name := range strings.Fields(string(out)) {
		if name == "busybox" || strings.Contains(name, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", name)); err != nil {
			return err
		}
	}
	all := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":  "root:x:0:\n",
	}
	for name, content := range files {
		all[name] = content
	}
	for name, content := range all {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
