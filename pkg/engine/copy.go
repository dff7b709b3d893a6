package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rless/rless/pkg/layer"
)

// Copying goes through tar in the container (the image must have one:
// busybox and the common bases do): a tar stream made or read by tar
// there, made or read by the engine here. What comes out of the container
// is unpacked as a layer is, refusing paths that lead out of the
// destination.

// CopyFrom copies the file or tree at src in the running container to dst
// on the host, as podman cp: into dst when it is a directory, else as dst.
// The copies belong to the user.
func (c *Container) CopyFrom(ctx context.Context, src, dst string) error {
	if !path.IsAbs(src) {
		src = "/" + src
	}
	src = path.Clean(src)
	target := dst
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() && src != "/" {
		target = filepath.Join(dst, path.Base(src))
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(target)), ".rless-cp-")
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	defer os.RemoveAll(tmp)
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	dir, base := path.Dir(src), path.Base(src)
	if src == "/" {
		dir, base = "/", "."
	}
	p, err := c.Exec(ctx, Process{Args: []string{"tar", "-c", "-f", "-", "-C", dir, base}, Stdout: pw, Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("copy from container %s: %w", c.shortName(), err)
	}
	unpacked := make(chan error, 1)
	go func() {
		_, err := layer.Unpack(ctx, tmp, pr, layer.Options{})
		_, _ = io.Copy(io.Discard, pr)
		unpacked <- err
	}()
	code, err := p.Wait()
	pw.Close()
	uerr := <-unpacked
	if err == nil && code != 0 {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "No such file") || strings.Contains(msg, "can't stat") || strings.Contains(msg, "Cannot stat") {
			return fmt.Errorf("%q could not be found on container %s: %w", src, c.shortName(), fs.ErrNotExist)
		}
		err = fmt.Errorf("tar in the container: exit status %d: %s", code, msg)
	}
	if err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("copy from container %s: %w", c.shortName(), err)
	}
	got := filepath.Join(tmp, base)
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		if src == "/" {
			got = tmp
		}
		// Merge into the existing directory, entry by entry.
		entries, err := os.ReadDir(got)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := os.Rename(filepath.Join(got, e.Name()), filepath.Join(target, e.Name())); err != nil {
				return fmt.Errorf("copy to %s: %w", target, err)
			}
		}
		return nil
	}
	if err := os.Rename(got, target); err != nil {
		return fmt.Errorf("copy to %s: %w", target, err)
	}
	return nil
}

// CopyTo copies the file or tree at src on the host to dst in the running
// container, as podman cp: into dst when it is a directory there, else as
// dst. The copies belong to the container's root.
func (c *Container) CopyTo(ctx context.Context, src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("copy to container %s: %w", c.shortName(), err)
	}
	if !path.IsAbs(dst) {
		dst = "/" + dst
	}
	dst = path.Clean(dst)
	dir, name := path.Dir(dst), path.Base(dst)
	if c.isDir(ctx, dst) {
		dir, name = dst, filepath.Base(src)
	} else if !c.isDir(ctx, dir) {
		return fmt.Errorf("copy to container %s: %s is not a directory in the container: %w", c.shortName(), dir, fs.ErrNotExist)
	}
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	p, err := c.Exec(ctx, Process{Args: []string{"tar", "-x", "-f", "-", "-C", dir}, Stdin: pr, Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("copy to container %s: %w", c.shortName(), err)
	}
	werr := writeTree(pw, src, name, fi)
	pw.CloseWithError(werr)
	code, err := p.Wait()
	if err == nil && code != 0 {
		err = fmt.Errorf("tar in the container: exit status %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	if err = errors.Join(werr, err); err != nil {
		return fmt.Errorf("copy to container %s: %w", c.shortName(), err)
	}
	return nil
}

// isDir reports whether p is a directory in the container.
func (c *Container) isDir(ctx context.Context, p string) bool {
	proc, err := c.Exec(ctx, Process{Args: []string{"test", "-d", p}})
	if err != nil {
		return false
	}
	code, err := proc.Wait()
	return err == nil && code == 0
}

// writeTree writes the tree at src (fi its Lstat) to w as a tar stream
// whose entries are named under name, owned by root; symbolic links are
// copied as links.
func writeTree(w io.Writer, src, name string, fi fs.FileInfo) error {
	tw := tar.NewWriter(w)
	add := func(p, rel string, fi fs.FileInfo) error {
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			var err error
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = rel, 0, 0, "", ""
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	}
	if !fi.IsDir() {
		if err := add(src, name, fi); err != nil {
			return err
		}
		return tw.Close()
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return add(p, path.Join(name, filepath.ToSlash(rel)), info)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
