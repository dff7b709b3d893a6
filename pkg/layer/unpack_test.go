package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rless/rless/internal/hostile"
	"github.com/rless/rless/pkg/layer"
)

// entry is a tar entry to write; body is the content of regular files.
type entry struct {
	tar.Header
	body string
}

var (
	t1 = time.Unix(1500000000, 0)
	t2 = time.Unix(1600000000, 0)
	t3 = time.Unix(1650000000, 0)
)

func mktar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		if h.ModTime.IsZero() {
			h.ModTime = t1
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := w.WriteHeader(&h); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if _, err := io.WriteString(w, e.body); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, body string, mode int64) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, body}
}

func dir(name string, mode int64) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}, ""}
}

func symlink(name, target string) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}, ""}
}

func hardlink(name, target string) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}, ""}
}

func at(e entry, mtime time.Time) entry {
	e.ModTime = mtime
	return e
}

func withXattrs(e entry, kv ...string) entry {
	e.PAXRecords = map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		e.PAXRecords["SCHILY.xattr."+kv[i]] = kv[i+1]
	}
	return e
}

// result is what an Unpack did.
type result struct {
	stats    layer.Stats
	warnings []string
	err      error
}

func unpack(t testing.TB, dir string, data []byte, opts layer.Options) result {
	t.Helper()
	var r result
	opts.Warn = func(msg string) { r.warnings = append(r.warnings, msg) }
	r.stats, r.err = layer.Unpack(context.Background(), dir, bytes.NewReader(data), opts)
	if r.stats.Neutralised != len(r.warnings) {
		t.Errorf("Stats.Neutralised is %d, %d warnings: %q", r.stats.Neutralised, len(r.warnings), r.warnings)
	}
	return r
}

// layerDir makes an empty layer directory that can be removed whatever
// modes the layer gave its directories.
func layerDir(t testing.TB, parent, name string) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unlock(d) })
	return d
}

// unlock gives the owner access to every directory below d, not following
// symlinks, so that it can be removed.
func unlock(d string) {
	_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
		if e != nil && e.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
}

func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st
}

func wantMode(t testing.TB, p string, mode uint32) {
	t.Helper()
	if st := lstat(t, p); st.Mode != mode {
		t.Errorf("%s: mode %#o, want %#o", p, st.Mode, mode)
	}
}

func wantContent(t testing.TB, p, content string) {
	t.Helper()
	if err := hostile.Regular(p, content); err != nil {
		t.Error(err)
	}
}

func wantMtime(t testing.TB, p string, mtime time.Time) {
	t.Helper()
	st := lstat(t, p)
	if got := time.Unix(st.Mtim.Unix()); !got.Equal(mtime) {
		t.Errorf("%s: mtime %v, want %v", p, got, mtime)
	}
}

func wantXattr(t testing.TB, p, name, value string) {
	t.Helper()
	v, err := hostile.Xattr(p, name)
	if err != nil || v != value {
		t.Errorf("%s: xattr %s is %q (%v), want %q", p, name, v, err, value)
	}
}

func wantNoWarnings(t testing.TB, r result) {
	t.Helper()
	if len(r.warnings) > 0 {
		t.Errorf("warnings: %q", r.warnings)
	}
}

func TestUnpack(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		check   func(t *testing.T, d string, r result)
	}{
		{
			name: "files and modes",
			entries: []entry{
				dir("etc", 0o755),
				file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644),
				file("etc/shadow", "secret", 0o600),
				file("bin/su", "su", 0o4755),
				file("usr/bin/ro", "ro", 0o444),
				dir("tmp", 0o1777),
				dir("root", 0o700),
				file("empty", "", 0o640),
			},
			check: func(t *testing.T, d string, r result) {
				wantNoWarnings(t, r)
				wantContent(t, filepath.Join(d, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n")
				wantMode(t, filepath.Join(d, "etc"), unix.S_IFDIR|0o755)
				wantMode(t, filepath.Join(d, "etc/passwd"), unix.S_IFREG|0o644)
				wantMode(t, filepath.Join(d, "etc/shadow"), unix.S_IFREG|0o600)
				wantMode(t, filepath.Join(d, "bin/su"), unix.S_IFREG|0o4755)
				wantMode(t, filepath.Join(d, "usr/bin/ro"), unix.S_IFREG|0o444)
				wantMode(t, filepath.Join(d, "tmp"), unix.S_IFDIR|0o1777)
				wantMode(t, filepath.Join(d, "root"), unix.S_IFDIR|0o700)
				wantContent(t, filepath.Join(d, "empty"), "")
				// missing parents are made
				for _, p := range []string{"bin", "usr", "usr/bin"} {
					if st := lstat(t, filepath.Join(d, p)); st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o700 != 0o700 {
						t.Errorf("%s: mode %#o", p, st.Mode)
					}
				}
				if r.stats.Entries != 8 {
					t.Errorf("Entries %d", r.stats.Entries)
				}
				if want := int64(len("root:x:0:0::/root:/bin/sh\n") + len("secret") + 2 + 2); r.stats.Bytes != want {
					t.Errorf("Bytes %d, want %d", r.stats.Bytes, want)
				}
			},
		},
		{
			name: "names",
			entries: []entry{
				dir("./", 0o755),
				file("./a", "a", 0o644),
				file("b/./c", "c", 0o644),
				file("d/../e", "e", 0o644),
				file("sp ace/ünï\ncode", "u", 0o644),
			},
			check: func(t *testing.T, d string, r result) {
				wantNoWarnings(t, r)
				wantContent(t, filepath.Join(d, "a"), "a")
				wantContent(t, filepath.Join(d, "b/c"), "c")
				wantContent(t, filepath.Join(d, "e"), "e")
				wantContent(t, filepath.Join(d, "sp ace/ünï\ncode"), "u")
			},
		},
		{
			name: "symlinks",
			entries: []entry{
				file("usr/lib/libc.so", "libc", 0o755),
				symlink("lib", "usr/lib"),
				symlink("abs", "/etc/passwd"),
				symlink("dangling", "../../nowhere"),
				at(symlink("dated", "x"), t2),
				file("lib/libm.so", "libm", 0o755), // through a symlink inside the layer
			},
			check: func(t *testing.T, d string, r result) {
				for name, target := range map[string]string{"lib": "usr/lib", "abs": "/etc/passwd", "dangling": "../../nowhere"} {
					if err := hostile.Symlink(filepath.Join(d, name), target); err != nil {
						t.Error(err)
					}
				}
				wantMtime(t, filepath.Join(d, "dated"), t2)
				wantContent(t, filepath.Join(d, "usr/lib/libm.so"), "libm")
				if len(r.warnings) != 1 || !strings.Contains(r.warnings[0], `"lib/libm.so"`) {
					t.Errorf("warnings %q, want one naming lib/libm.so", r.warnings)
				}
			},
		},
		{
			name: "hardlinks",
			entries: []entry{
				file("bin/busybox", "bb", 0o755),
				hardlink("bin/sh", "bin/busybox"),
				hardlink("usr/bin/env", "bin/busybox"),
				hardlink("./bin/ls", "./bin/busybox"),
			},
			check: func(t *testing.T, d string, r result) {
				wantNoWarnings(t, r)
				bb := lstat(t, filepath.Join(d, "bin/busybox"))
				for _, p := range []string{"bin/sh", "usr/bin/env", "bin/ls"} {
					if err := hostile.SameFile(filepath.Join(d, "bin/busybox"), filepath.Join(d, p)); err != nil {
						t.Error(err)
					}
				}
				if bb.Nlink != 4 {
					t.Errorf("bin/busybox has %d links, want 4", bb.Nlink)
				}
				wantContent(t, filepath.Join(d, "bin/sh"), "bb")
			},
		},
		{
			name: "whiteouts",
			entries: []entry{
				dir("etc", 0o755),
				file("etc/.wh.hosts", "", 0o644),
				file(".wh.opt", "", 0o644),
				file("var/lib/.wh.apt", "", 0o644),
			},
			check: func(t *testing.T, d string, r result) {
				wantNoWarnings(t, r)
				for _, p := range []string{"etc/hosts", "opt", "var/lib/apt"} {
					if err := hostile.Whiteout(filepath.Join(d, p)); err != nil {
						t.Error(err)
					}
					if _, err := os.Lstat(filepath.Join(d, filepath.Dir(p), ".wh."+filepath.Base(p))); err == nil {
						t.Errorf("%s: the .wh. file was made", p)
					}
				}
			},
		},
		{
			name: "opaque",
			entries: []entry{
				dir("etc", 0o755),
				file("etc/.wh..wh..opq", "", 0o644),
				file("etc/hosts", "h", 0o644),
				file("usr/share/.wh..wh..opq", "", 0o644), // parent not in the layer
			},
			check: func(t *testing.T, d string, r result) {
				wantNoWarnings(t, r)
				wantXattr(t, filepath.Join(d, "etc"), layer.OpaqueXattr, "y")
				wantXattr(t, filepath.Join(d, "usr/share"), layer.OpaqueXattr, "y")
				if _, err := hostile.Xattr(filepath.Join(d, "usr"), layer.OpaqueXattr); err == nil {
					t.Error("usr is opaque")
				}
				if _, err := os.Lstat(filepath.Join(d, "etc/.wh..wh..opq")); err == nil {
					t.Error("the opaque marker was made")
				}
				wantContent(t, filepath.Join(d, "etc/hosts"), "h")
			},
		},
		{
			name: "mtimes",
			entries: []entry{
				at(dir("d", 0o755), t1),
				at(dir("d/e", 0o755), t3),
				at(file("d/f", "f", 0o644), t2),
				at(file("d/e/g", "g", 0o644), t2),
				at(dir("ro", 0o555), t3),
				{tar.Header{Name: "ns", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(1600000000, 123456789), Format: tar.FormatPAX}, ""},
				at(file("d/e/h", "h", 0o644), t1),
			},
			check: func(t *testing.T, d string, r result) {
				wantNoWarnings(t, r)
				wantMtime(t, filepath.Join(d, "d"), t1)
				wantMtime(t, filepath.Join(d, "d/e"), t3)
				wantMtime(t, filepath.Join(d, "d/f"), t2)
				wantMtime(t, filepath.Join(d, "d/e/g"), t2)
				wantMtime(t, filepath.Join(d, "d/e/h"), t1)
				wantMtime(t, filepath.Join(d, "ro"), t3)
				wantMtime(t, filepath.Join(d, "ns"), time.Unix(1600000000, 123456789))
			},
		},
		{
			name: "xattrs",
			entries: []entry{
				withXattrs(file("f", "f", 0o644), "user.foo", "bar", "user.empty", ""),
				withXattrs(dir("d", 0o755), "user.foo", "dir"),
				withXattrs(file("g", "g", 0o644), "trusted.foo", "x", "user.overlay.opaque", "y", "user.ok", "1"),
			},
			check: func(t *testing.T, d string, r result) {
				wantXattr(t, filepath.Join(d, "f"), "user.foo", "bar")
				wantXattr(t, filepath.Join(d, "f"), "user.empty", "")
				wantXattr(t, filepath.Join(d, "d"), "user.foo", "dir")
				wantXattr(t, filepath.Join(d, "g"), "user.ok", "1")
				if _, err := hostile.Xattr(filepath.Join(d, "g"), "user.overlay.opaque"); err == nil {
					t.Error("user.overlay.opaque set from the layer")
				}
				if len(r.warnings) != 2 || !strings.Contains(r.warnings[0], `"g"`) || !strings.Contains(r.warnings[1], `"g"`) {
					t.Errorf("warnings %q, want two naming g", r.warnings)
				}
			},
		},
		{
			name: "replacements",
			entries: []entry{
				// The same places by other names (a name twice is refused):
				dir("d", 0o700),
				file("d/f", "f", 0o644),
				dir("/d", 0o755), // a directory again keeps its content
				file("x", "one", 0o644),
				symlink("/x", "d"),
				file("y", "y", 0o644),
				hardlink("z", "y"),
				file("/z", "z", 0o644), // replaces the link, not y
			},
			check: func(t *testing.T, d string, r result) {
				wantMode(t, filepath.Join(d, "d"), unix.S_IFDIR|0o755)
				wantContent(t, filepath.Join(d, "d/f"), "f")
				if err := hostile.Symlink(filepath.Join(d, "x"), "d"); err != nil {
					t.Error(err)
				}
				wantContent(t, filepath.Join(d, "y"), "y")
				wantContent(t, filepath.Join(d, "z"), "z")
				if len(r.warnings) != 5 {
					t.Errorf("warnings %q, want three for absolute paths, two for replacements", r.warnings)
				}
			},
		},
		{
			name: "fifo and devices",
			entries: []entry{
				{tar.Header{Name: "dev/fifo", Typeflag: tar.TypeFifo, Mode: 0o620}, ""},
				{tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, ""},
				{tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 8}, ""},
			},
			check: func(t *testing.T, d string, r result) {
				wantMode(t, filepath.Join(d, "dev/fifo"), unix.S_IFIFO|0o620)
				for _, p := range []string{"dev/null", "dev/sda"} {
					if _, err := os.Lstat(filepath.Join(d, p)); err == nil {
						t.Errorf("%s was made", p)
					}
				}
				if len(r.warnings) != 2 || !strings.Contains(r.warnings[0], "dev/null") || !strings.Contains(r.warnings[1], "dev/sda") {
					t.Errorf("warnings %q", r.warnings)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := layerDir(t, t.TempDir(), "layer")
			r := unpack(t, d, mktar(t, tt.entries...), layer.Options{})
			if r.err != nil {
				t.Fatalf("Unpack: %v (warnings %q)", r.err, r.warnings)
			}
			tt.check(t, d, r)
		})
	}
}

// TestOwners: owners are applied where the process may, and counted in
// Unowned where it may not.
func TestOwners(t *testing.T) {
	d := layerDir(t, t.TempDir(), "layer")
	f := file("f", "f", 0o644)
	f.Uid, f.Gid = 1234, 5678
	g := dir("g", 0o755)
	g.Uid, g.Gid = 1234, 5678
	l := symlink("l", "f")
	l.Uid, l.Gid = 1234, 5678
	own := file("own", "o", 0o644)
	own.Uid, own.Gid = os.Getuid(), os.Getgid()
	r := unpack(t, d, mktar(t, f, g, l, own), layer.Options{})
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantNoWarnings(t, r)
	if os.Geteuid() == 0 {
		for _, p := range []string{"f", "g", "l"} {
			if st := lstat(t, filepath.Join(d, p)); st.Uid != 1234 || st.Gid != 5678 {
				t.Errorf("%s: owner %d:%d", p, st.Uid, st.Gid)
			}
		}
		if r.stats.Unowned != 0 {
			t.Errorf("Unowned %d", r.stats.Unowned)
		}
	} else {
		if r.stats.Unowned != 3 {
			t.Errorf("Unowned %d, want 3", r.stats.Unowned)
		}
		if st := lstat(t, filepath.Join(d, "f")); int(st.Uid) != os.Getuid() {
			t.Errorf("f: owner %d", st.Uid)
		}
	}
}

// TestCapabilities: file capabilities are set where the process may, and
// dropped with a warning where it may not.
func TestCapabilities(t *testing.T) {
	d := layerDir(t, t.TempDir(), "layer")
	// vfs_cap_data revision 2: cap_net_bind_service permitted, effective
	capv := make([]byte, 20)
	binary.LittleEndian.PutUint32(capv[0:], 0x02000000|1)
	binary.LittleEndian.PutUint32(capv[4:], 1<<10)
	r := unpack(t, d, mktar(t, withXattrs(file("ping", "p", 0o755), "security.capability", string(capv))), layer.Options{})
	if r.err != nil {
		t.Fatal(r.err)
	}
	v, err := hostile.Xattr(filepath.Join(d, "ping"), "security.capability")
	if os.Geteuid() == 0 {
		if err != nil || v != string(capv) {
			t.Errorf("capability %x, %v", v, err)
		}
		wantNoWarnings(t, r)
	} else {
		if err == nil {
			t.Errorf("capability %x set without privilege", v)
		}
		if len(r.warnings) != 1 || !strings.Contains(r.warnings[0], `"ping"`) {
			t.Errorf("warnings %q", r.warnings)
		}
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		entry   string
		escape  bool
	}{
		{"dotdot", []entry{file("../x", "x", 0o644)}, "../x", true},
		{"dotdot after files", []entry{file("a", "a", 0o644), file("a/../../x", "x", 0o644)}, "a/../../x", true},
		{"hardlink dotdot", []entry{file("a", "a", 0o644), hardlink("h", "../a")}, "h", true},
		{"hardlink missing", []entry{hardlink("h", "a")}, "h", false},
		{"whiteout dotdot", []entry{file("d/.wh...", "", 0o644)}, "d/.wh...", false},
		{"empty symlink", []entry{symlink("s", "")}, "s", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			d := layerDir(t, base, "layer")
			r := unpack(t, d, mktar(t, tt.entries...), layer.Options{})
			var ee *layer.EntryError
			if !errors.As(r.err, &ee) || ee.Name != tt.entry {
				t.Fatalf("error %v, want an EntryError for %q", r.err, tt.entry)
			}
			if errors.Is(r.err, layer.ErrEscape) != tt.escape {
				t.Errorf("error %v: escape %v, want %v", r.err, !tt.escape, tt.escape)
			}
			if _, err := os.Lstat(filepath.Join(base, "x")); err == nil {
				t.Error("x made outside the layer")
			}
		})
	}
}

func TestSparseLimit(t *testing.T) {
	var small []byte
	for _, c := range hostile.Cases("/canary") {
		if c.Name == "sparse-small" {
			small = c.Layers[0]
		}
	}
	d := layerDir(t, t.TempDir(), "layer")
	r := unpack(t, d, small, layer.Options{MaxSparseSize: 1 << 19})
	var ee *layer.EntryError
	if !errors.As(r.err, &ee) || ee.Name != "small" {
		t.Errorf("error %v, want an EntryError for small", r.err)
	}
	d = layerDir(t, t.TempDir(), "layer")
	r = unpack(t, d, small, layer.Options{MaxSparseSize: 1 << 20})
	if r.err != nil {
		t.Fatal(r.err)
	}
	// the holes stay holes
	if st := lstat(t, filepath.Join(d, "small")); st.Size != 1<<20 || st.Blocks*512 >= 1<<20 {
		t.Errorf("size %d, %d blocks", st.Size, st.Blocks)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := layerDir(t, t.TempDir(), "layer")
	_, err := layer.Unpack(ctx, d, bytes.NewReader(mktar(t, file("f", "f", 0o644))), layer.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v", err)
	}
	if _, err := layer.Unpack(context.Background(), filepath.Join(d, "missing"), bytes.NewReader(nil), layer.Options{}); err == nil {
		t.Error("no error for a missing directory")
	}
}

// TestReadOnlyDirs: directories whose mode forbids writing (as a Go module
// cache in an image has) still get their content.
// TestReadOnlyDirs: directory modes are applied last, so read-only
// directories are filled first, even without CAP_DAC_OVERRIDE.
func TestReadOnlyDirs(t *testing.T) {
	d := layerDir(t, t.TempDir(), "layer")
	r := unpack(t, d, mktar(t,
		dir("ro", 0o555),
		file("ro/f", "f", 0o444),
		dir("ro/sub", 0o555),
		file("ro/sub/g", "g", 0o444),
		dir("none", 0),
		file("none/h", "h", 0o644),
	), layer.Options{})
	if r.err != nil {
		t.Fatalf("Unpack: %v", r.err)
	}
	wantMode(t, filepath.Join(d, "ro"), unix.S_IFDIR|0o555)
	wantMode(t, filepath.Join(d, "none"), unix.S_IFDIR)
	unlock(d)
	wantContent(t, filepath.Join(d, "ro/sub/g"), "g")
	wantContent(t, filepath.Join(d, "none/h"), "h")
}

// readError says whether err is the unpacker's report of a broken stream.
func readError(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "archive/tar: ")
}

// fileState is what a snapshot records of a file.
type fileState struct {
	mode, nlink, uid, gid uint32
	ino                   uint64
	size                  int64
	mtime, ctime          unix.Timespec
	content               string
}

// snapshot records every file below root but the skipped directories.
func snapshot(t testing.TB, root string, skip ...string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if slices.Contains(skip, p) {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		s := fileState{
			mode: st.Mode, nlink: uint32(st.Nlink), uid: st.Uid, gid: st.Gid, ino: st.Ino,
			size: st.Size, mtime: st.Mtim, ctime: st.Ctim,
		}
		if e.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s.content = string(b)
		}
		m[p] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func compareSnapshots(t testing.TB, before, after map[string]fileState) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(before)) {
		if a, ok := after[p]; !ok {
			t.Errorf("%s was removed", p)
		} else if a != before[p] {
			t.Errorf("%s changed: %+v, was %+v", p, a, before[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[p]; !ok {
			t.Errorf("%s was made outside the layers", p)
		}
	}
}

const canaryContent = "canary: must not change\n"

// makeCanary writes a canary file that the unpacking user may change: an
// escape that reaches it is not stopped by permissions.
func makeCanary(t testing.TB, p string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(canaryContent), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHostile unpacks every case of the hostile corpus, each layer into its
// own directory, beside a canary.
func TestHostile(t *testing.T) {
	for i, c := range hostile.Cases("/canary") {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			canary := filepath.Join(base, "canary")
			makeCanary(t, canary)
			c := hostile.Cases(canary)[i]
			var dirs []string
			for j := range c.Layers {
				dirs = append(dirs, layerDir(t, base, "layer"+strconv.Itoa(j)))
			}
			before := snapshot(t, base, dirs...)

			var warnings []string
			var errs []error
			for j, data := range c.Layers {
				var r result
				done := make(chan struct{})
				go func() {
					defer close(done)
					r = unpack(t, dirs[j], data, layer.Options{})
				}()
				select {
				case <-done:
				case <-time.After(2 * time.Minute):
					t.Fatalf("layer %d: Unpack hangs", j)
				}
				warnings = append(warnings, r.warnings...)
				if r.err != nil {
					errs = append(errs, r.err)
				}
			}
			for _, w := range warnings {
				t.Logf("warning: %s", w)
			}
			for _, err := range errs {
				t.Logf("error: %v", err)
			}

			compareSnapshots(t, before, snapshot(t, base, dirs...))

			var entryErr *layer.EntryError
			for _, err := range errs {
				var ee *layer.EntryError
				switch {
				case errors.As(err, &ee):
					if entryErr == nil {
						entryErr = ee
					}
				case readError(err):
				default:
					t.Errorf("error neither for an entry nor for reading: %v", err)
				}
			}
			refused := len(errs) > 0
			switch {
			case c.Refused && !refused:
				t.Fatalf("not refused (warnings %q)", warnings)
			case !c.Refused && refused:
				t.Fatalf("refused: %v", errors.Join(errs...))
			case c.Refused:
				if c.Entry != "" && entryErr != nil && entryErr.Name != c.Entry {
					t.Errorf("refused entry %q, want %q", entryErr.Name, c.Entry)
				}
				if c.Entry != "" && entryErr == nil {
					t.Errorf("no EntryError naming %q: %v", c.Entry, errors.Join(errs...))
				}
			case c.Entry != "":
				if !slices.ContainsFunc(warnings, func(w string) bool {
					return strings.Contains(w, strconv.Quote(c.Entry)) || strings.Contains(w, c.Entry)
				}) {
					t.Errorf("no warning names %q: %q", c.Entry, warnings)
				}
			default:
				if len(warnings) > 0 {
					t.Errorf("warnings for a harmless case: %q", warnings)
				}
			}
			if !refused && c.Check != nil {
				if err := c.Check(dirs); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// fuzzCanary is a canary at a fixed path: the seeds name it, and the
// fuzzing workers (other processes) get the coordinator's seeds.
func fuzzCanary(f *testing.F) string {
	d := filepath.Join(os.TempDir(), fmt.Sprintf("rless-layer-fuzz-%d", os.Getuid()))
	if err := os.MkdirAll(d, 0o755); err != nil {
		f.Fatal(err)
	}
	p := filepath.Join(d, "canary")
	if b, err := os.ReadFile(p); err != nil || string(b) != canaryContent {
		makeCanary(f, p)
	}
	return p
}

func FuzzUnpack(f *testing.F) {
	shared := fuzzCanary(f)
	for _, c := range hostile.Cases(shared) {
		for _, l := range c.Layers {
			f.Add(l)
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		makeCanary(t, filepath.Join(base, "canary"))
		d := layerDir(t, base, "layer")
		before := snapshot(t, base, d)
		sharedBefore := snapshot(t, filepath.Dir(shared))
		r := unpack(t, d, data, layer.Options{})
		var ee *layer.EntryError
		if r.err != nil && !errors.As(r.err, &ee) && !readError(r.err) {
			t.Errorf("error neither for an entry nor for reading: %v", r.err)
		}
		compareSnapshots(t, before, snapshot(t, base, d))
		compareSnapshots(t, sharedBefore, snapshot(t, filepath.Dir(shared)))
	})
}
