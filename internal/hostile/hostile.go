// Package hostile generates a corpus of hostile image layers: tar streams
// whose entries try to reach, overwrite, delete, link or chmod a canary file
// outside the directory they are unpacked into, or to exhaust the unpacker.
// It only makes data; tests of the unpacker (and of the commands that pull
// and unpack images) run the cases and check the canary.
package hostile

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Case is one hostile layer.
type Case struct {
	// Name is a short id, usable as an image name component ([a-z0-9-]).
	Name string
	// Layers are uncompressed tar streams, bottom first. Each is meant to
	// be unpacked into its own fresh directory.
	Layers [][]byte
	// Refused says the unpacker must refuse some layer (an error naming the
	// entry, or a read error for broken streams); otherwise every layer must
	// unpack, with the hostile entries neutralised.
	Refused bool
	// Entry is the name, as in the tar stream, of the entry the case is
	// about: the entry a refusal names, or for a case that unpacks, an entry
	// some warning must name. Empty when no particular entry is to be named:
	// for a refused case, a broken stream or an entry hard to name; for a
	// case that unpacks, entries harmless as they are, which should unpack
	// without any warning.
	Entry string
	// Check inspects the unpacked layer directories (same order as Layers)
	// after a successful unpack; nil when nothing is to be checked.
	Check func(dirs []string) error
}

// Up climbs out of any directory of a layer: a relative link target or
// entry name starting with it reaches the host's root from anywhere.
var Up = strings.Repeat("../", 20)

// HugeSize is the logical size the sparse and truncated cases claim: 1 TiB.
const HugeSize = 1 << 40

// Content is what the cases write where they try to write the canary.
const Content = "pwned by a hostile layer\n"

// ModTime is the modification time of every entry.
var ModTime = time.Unix(1700000000, 0)

// Cases returns the corpus. canary is the absolute path of a file outside
// the store that the cases try to reach, both as an absolute path and
// relative to the layer with enough ".." to climb out.
func Cases(canary string) []Case {
	canary = path.Clean("/" + canary)
	rel := strings.TrimPrefix(canary, "/")  // canary inside a layer
	relDir, base := path.Split(rel)         // relDir ends in "/" unless empty
	upCanary := Up + rel                    // canary relative, climbing out
	absOutside := "/rless-hostile-abs/file" // an absolute path on the host
	cs := []Case{
		{
			Name:    "dotdot",
			Layers:  layers(tb().file(upCanary, Content, 0o644)),
			Refused: true,
			Entry:   upCanary,
		},
		{
			Name:    "dotdot-inner",
			Layers:  layers(tb().dir("a", 0o755).file("a/b/../../"+upCanary, Content, 0o644)),
			Refused: true,
			Entry:   "a/b/../../" + upCanary,
		},
		{
			Name:    "dotdot-dir",
			Layers:  layers(tb().dir(Up+relDir+"newdir", 0o777)),
			Refused: true,
			Entry:   Up + relDir + "newdir",
		},
		{
			Name:   "abs",
			Layers: layers(tb().file(absOutside, Content, 0o644)),
			Entry:  absOutside,
			Check: func(dirs []string) error {
				if err := Regular(filepath.Join(dirs[0], absOutside), Content); err != nil {
					return err
				}
				if _, err := os.Lstat(absOutside); !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("%s exists on the host (%v)", absOutside, err)
				}
				return nil
			},
		},
		{
			Name:   "abs-canary",
			Layers: layers(tb().file(canary, Content, 0o644)),
			Entry:  canary,
			Check:  inside(rel),
		},
		{
			Name:   "abs-canary-chmod",
			Layers: layers(tb().dir(canary, 0o777)),
			Entry:  canary,
			Check: func(dirs []string) error {
				return Dir(filepath.Join(dirs[0], rel), 0o777)
			},
		},
		{
			Name:    "symlink-abs-write",
			Layers:  layers(tb().symlink("s", canary).file("s", Content, 0o644)),
			Entry:   "s",
			Refused: true, // a path named twice (see layer.ErrDuplicate)
		},
		{
			Name:    "symlink-rel-write",
			Layers:  layers(tb().symlink("s", upCanary).file("s", Content, 0o644)),
			Entry:   "s",
			Refused: true, // a path named twice (see layer.ErrDuplicate)
		},
		{
			Name:    "symlink-hardlink-write",
			Layers:  layers(tb().symlink("s", canary).file("f", Content, 0o644).hardlink("s", "f")),
			Entry:   "s",
			Refused: true, // a path named twice (see layer.ErrDuplicate)
		},
		{
			Name:   "symlink-root-dir",
			Layers: layers(tb().symlink("link", "/").file("link/"+rel, Content, 0o644)),
			Entry:  "link/" + rel,
			Check:  all(inside(rel), symlinkAt("link", "/")),
		},
		{
			Name:   "symlink-up-dir",
			Layers: layers(tb().symlink("link", Up).file("link/"+rel, Content, 0o644)),
			Entry:  "link/" + rel,
			Check:  all(inside(rel), symlinkAt("link", Up)),
		},
		{
			Name:   "symlink-canary-dir",
			Layers: layers(tb().dir(relDir, 0o755).symlink("link", "/"+relDir).file("link/"+base, Content, 0o644)),
			Entry:  "link/" + base,
			Check:  all(inside(rel), symlinkAt("link", "/"+relDir)),
		},
		{
			Name: "symlink-chain",
			Layers: layers(tb().symlink("a", "b").symlink("b", "c").symlink("c", Up).
				file("a/"+rel, Content, 0o644)),
			Entry: "a/" + rel,
			Check: inside(rel),
		},
		{
			Name:   "symlink-mkdir",
			Layers: layers(tb().symlink("link", "/").file("link/"+relDir+"sub/f", Content, 0o644)),
			Entry:  "link/" + relDir + "sub/f",
			Check:  inside(relDir + "sub/f"),
		},
		{
			Name:   "symlink-dir-chmod",
			Layers: layers(tb().symlink("link", "/").dir("link/"+relDir, 0o777)),
			Entry:  "link/" + relDir,
			Check: func(dirs []string) error {
				return Dir(filepath.Join(dirs[0], relDir), 0o777)
			},
		},
		{
			Name:   "symlink-fifo",
			Layers: layers(tb().dir(relDir, 0o755).symlink("link", "/"+relDir).fifo("link/"+base, 0o644)),
			Entry:  "link/" + base,
			Check: func(dirs []string) error {
				return mode(filepath.Join(dirs[0], rel), unix.S_IFIFO|0o644)
			},
		},
		{
			Name:   "symlink-root-two-layers",
			Layers: layers(tb().symlink("link", "/"), tb().file("link/"+rel, Content, 0o644)),
			Check: func(dirs []string) error {
				if err := Symlink(filepath.Join(dirs[0], "link"), "/"); err != nil {
					return err
				}
				return Regular(filepath.Join(dirs[1], "link", rel), Content)
			},
		},
		{
			Name:   "symlink-up-two-layers",
			Layers: layers(tb().symlink("link", Up), tb().file("link/"+rel, Content, 0o644)),
			Check: func(dirs []string) error {
				return Regular(filepath.Join(dirs[1], "link", rel), Content)
			},
		},
		{
			Name:   "symlink-canary-two-layers",
			Layers: layers(tb().symlink("c", canary), tb().file("c", Content, 0o644)),
			Check: func(dirs []string) error {
				if err := Symlink(filepath.Join(dirs[0], "c"), canary); err != nil {
					return err
				}
				return Regular(filepath.Join(dirs[1], "c"), Content)
			},
		},
		{
			Name:    "hardlink-abs-canary",
			Layers:  layers(tb().hardlink("h", canary)),
			Refused: true,
			Entry:   "h",
		},
		{
			Name:    "hardlink-up-canary",
			Layers:  layers(tb().hardlink("h", upCanary)),
			Refused: true,
			Entry:   "h",
		},
		{
			Name:    "hardlink-up-canary-in-dir",
			Layers:  layers(tb().dir("d", 0o755).hardlink("d/h", "d/../"+upCanary)),
			Refused: true,
			Entry:   "d/h",
		},
		{
			Name:    "hardlink-symlink-dir-out",
			Layers:  layers(tb().symlink("link", "/").hardlink("h", "link/"+rel)),
			Refused: true,
			Entry:   "h",
		},
		{
			Name:    "hardlink-symlink-up-out",
			Layers:  layers(tb().symlink("link", Up+relDir).hardlink("h", "link/"+base)),
			Refused: true,
			Entry:   "h",
		},
		{
			Name: "hardlink-symlink-dir-in",
			Layers: layers(tb().symlink("up", Up).file("x/f", Content, 0o644).
				hardlink("h", "up/x/f")),
			Entry: "h",
			Check: func(dirs []string) error {
				return SameFile(filepath.Join(dirs[0], "h"), filepath.Join(dirs[0], "x/f"))
			},
		},
		{
			Name:   "hardlink-abs-in",
			Layers: layers(tb().file("etc/passwd", Content, 0o644).hardlink("h", "/etc/passwd")),
			Entry:  "h",
			Check: func(dirs []string) error {
				return SameFile(filepath.Join(dirs[0], "h"), filepath.Join(dirs[0], "etc/passwd"))
			},
		},
		{
			// A hardlink to a symlink links the symlink itself, which then
			// points out of the layer as any symlink may.
			Name:   "hardlink-to-symlink",
			Layers: layers(tb().symlink("s", canary).hardlink("h", "s")),
			Check: func(dirs []string) error {
				if err := Symlink(filepath.Join(dirs[0], "h"), canary); err != nil {
					return err
				}
				return SameFile(filepath.Join(dirs[0], "h"), filepath.Join(dirs[0], "s"))
			},
		},
		{
			Name:    "hardlink-missing",
			Layers:  layers(tb().hardlink("h", "nothere")),
			Refused: true,
			Entry:   "h",
		},
		{
			Name:    "hardlink-dir",
			Layers:  layers(tb().dir("d", 0o755).hardlink("h", "d")),
			Refused: true,
			Entry:   "h",
		},
		{
			Name:    "hardlink-root",
			Layers:  layers(tb().hardlink("h", "./")),
			Refused: true,
			Entry:   "h",
		},
		{
			Name:    "hardlink-two-layers",
			Layers:  layers(tb().file("f", Content, 0o644), tb().hardlink("h", "f")),
			Refused: true,
			Entry:   "h",
		},
		{
			Name:   "chardev",
			Layers: layers(tb().device("dev/mem", tar.TypeChar, 1, 1)),
			Entry:  "dev/mem",
			Check:  absent("dev/mem"),
		},
		{
			Name:   "blockdev",
			Layers: layers(tb().device("dev/sda", tar.TypeBlock, 8, 0)),
			Entry:  "dev/sda",
			Check:  absent("dev/sda"),
		},
		{
			Name:   "chardev-canary",
			Layers: layers(tb().device(canary, tar.TypeChar, 1, 3)),
			Entry:  canary,
			Check:  absent(rel),
		},
		{
			Name:   "fifo",
			Layers: layers(tb().fifo("p", 0o644)),
			Check: func(dirs []string) error {
				return mode(filepath.Join(dirs[0], "p"), unix.S_IFIFO|0o644)
			},
		},
		{
			Name:    "sparse-gnu",
			Layers:  [][]byte{GNUSparse("big", HugeSize, HugeSize-512, []byte(Content))},
			Refused: true,
			Entry:   "big",
		},
		{
			Name:    "sparse-pax",
			Layers:  [][]byte{PAXSparse("big", HugeSize, HugeSize-512, []byte(Content))},
			Refused: true,
			Entry:   "big",
		},
		{
			Name:   "sparse-small",
			Layers: [][]byte{GNUSparse("small", 1<<20, 4096, []byte(Content))},
			Check: func(dirs []string) error {
				p := filepath.Join(dirs[0], "small")
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if len(b) != 1<<20 || !bytes.HasPrefix(b[4096:], []byte(Content)) ||
					strings.Trim(string(b[:4096]), "\x00") != "" {
					return fmt.Errorf("%s: wrong content (%d bytes)", p, len(b))
				}
				return nil
			},
		},
		{
			Name:    "truncated-huge",
			Layers:  [][]byte{Truncated("huge", HugeSize, []byte(Content))},
			Refused: true,
			Entry:   "huge",
		},
		{
			Name:    "truncated-header",
			Layers:  [][]byte{tb().file("f", Content, 0o644).bytes()[:300]},
			Refused: true,
		},
		{
			Name:    "truncated-content",
			Layers:  [][]byte{tb().file("f", strings.Repeat(Content, 100), 0o644).bytes()[:1024]},
			Refused: true,
			Entry:   "f",
		},
		{
			Name:    "garbage",
			Layers:  [][]byte{bytes.Repeat([]byte("garbage!"), 128)},
			Refused: true,
		},
		{
			Name:    "dup-file",
			Layers:  layers(tb().file("f", "first", 0o644).file("f", Content, 0o600)),
			Entry:   "f",
			Refused: true, // a path named twice (see layer.ErrDuplicate)
		},
		{
			Name: "dir-then-symlink",
			Layers: layers(tb().dir("d", 0o755).file("d/a", "a", 0o644).symlink("d", "/").
				file("d/"+rel, Content, 0o644)),
			Entry:   "d",
			Refused: true, // a path named twice (see layer.ErrDuplicate)
		},
		{
			Name: "symlink-then-dir",
			Layers: layers(tb().symlink("d", "/"+relDir).dir("d", 0o755).
				file("d/"+base, Content, 0o644)),
			Entry:   "d",
			Refused: true, // a path named twice (see layer.ErrDuplicate)
		},
		{
			Name:   "file-then-dir",
			Layers: layers(tb().file("d", "x", 0o644).file("d/f", Content, 0o644)),
			// the directory d cannot be made where the file is: refused
			Refused: true,
			Entry:   "d/f",
		},
		{
			Name:    "whiteout-dotdot",
			Layers:  layers(tb().file(Up+relDir+".wh."+base, "", 0o644)),
			Refused: true,
			Entry:   Up + relDir + ".wh." + base,
		},
		{
			Name:    "whiteout-dotdot-short",
			Layers:  layers(tb().file("../../.wh."+base, "", 0o644)),
			Refused: true,
			Entry:   "../../.wh." + base,
		},
		{
			Name:    "whiteout-dot",
			Layers:  layers(tb().dir("d", 0o755).file("d/.wh..", "", 0o644)),
			Refused: true,
			Entry:   "d/.wh..",
		},
		{
			Name:    "whiteout-dotdot-name",
			Layers:  layers(tb().dir("d", 0o755).file("d/.wh...", "", 0o644)),
			Refused: true,
			Entry:   "d/.wh...",
		},
		{
			Name:    "whiteout-empty",
			Layers:  layers(tb().file(".wh.", "", 0o644)),
			Refused: true,
			Entry:   ".wh.",
		},
		{
			Name:   "whiteout-abs",
			Layers: layers(tb().file("/"+relDir+".wh."+base, "", 0o644)),
			Entry:  "/" + relDir + ".wh." + base,
			Check:  whiteoutAt(rel),
		},
		{
			Name:   "whiteout-symlink",
			Layers: layers(tb().symlink("link", "/").file("link/"+relDir+".wh."+base, "", 0o644)),
			Entry:  "link/" + relDir + ".wh." + base,
			Check:  all(whiteoutAt(rel), symlinkAt("link", "/")),
		},
		{
			Name:   "whiteout-up-symlink",
			Layers: layers(tb().dir(relDir, 0o755).symlink("link", Up+relDir).file("link/.wh."+base, "", 0o644)),
			Entry:  "link/.wh." + base,
			Check:  whiteoutAt(rel),
		},
		{
			Name: "whiteout",
			Layers: layers(tb().dir("d", 0o755).file("d/keep", Content, 0o644).
				file("d/old", "old", 0o644).file("d/.wh.old", "", 0o644).
				file("d/.wh.gone", "", 0o644).dir("d/sub", 0o755).file("d/sub/f", "", 0o644).
				file("d/.wh.sub", "", 0o644)),
			Check: all(whiteoutAt("d/old"), whiteoutAt("d/gone"), whiteoutAt("d/sub"),
				inside("d/keep"), absent("d/.wh.old"), absent("d/.wh.gone"), absent("d/.wh.sub")),
		},
		{
			Name: "whiteout-of-symlink",
			Layers: layers(tb().symlink("s", "/"+relDir).symlink("c", canary).
				file(".wh.s", "", 0o644).file(".wh.c", "", 0o644)),
			Check: all(whiteoutAt("s"), whiteoutAt("c")),
		},
		{
			// removing the directory must not follow the symlink in it
			Name: "replace-dir-with-symlink-out",
			Layers: layers(tb().dir("d", 0o755).symlink("d/s", "/"+relDir).symlink("d/c", canary).
				symlink("d/up", Up).file("d", Content, 0o644)),
			Entry:   "d",
			Refused: true, // a path named twice (see layer.ErrDuplicate)
		},
		{
			Name: "whiteout-dir-with-symlink-out",
			Layers: layers(tb().dir("d", 0o755).symlink("d/s", "/"+relDir).symlink("d/up", Up).
				file(".wh.d", "", 0o644)),
			Check: whiteoutAt("d"),
		},
		{
			Name: "opaque",
			Layers: layers(tb().dir("d", 0o755).file("d/.wh..wh..opq", "", 0o644).
				file("d/f", Content, 0o644)),
			Check: all(opaqueAt("d", "y"), absent("d/.wh..wh..opq"), inside("d/f")),
		},
		{
			Name:   "opaque-symlink",
			Layers: layers(tb().dir(relDir, 0o755).symlink("link", "/"+relDir).file("link/.wh..wh..opq", "", 0o644)),
			Entry:  "link/.wh..wh..opq",
			Check:  opaqueAt(relDir, "y"),
		},
		{
			Name: "xattr-trusted",
			Layers: layers(tb().xattrFile("f", map[string]string{
				"trusted.overlay.opaque": "y", "trusted.foo": "bar", "user.ok": "kept",
			})),
			Entry: "f",
			Check: all(noXattr("f", "trusted.overlay.opaque"), noXattr("f", "trusted.foo"),
				xattrAt("f", "user.ok", "kept")),
		},
		{
			Name: "xattr-overlay-dir",
			Layers: layers(tb().xattrDir("d", map[string]string{
				"user.overlay.opaque": "y", "user.overlay.redirect": "/etc",
			})),
			Entry: "d",
			Check: all(noXattr("d", "user.overlay.opaque"), noXattr("d", "user.overlay.redirect")),
		},
		{
			Name: "xattr-overlay-file",
			Layers: layers(tb().xattrFile("f", map[string]string{
				"user.overlay.metacopy": "", "user.overlay.whiteout": "y",
			})),
			Entry: "f",
			Check: all(noXattr("f", "user.overlay.metacopy"), noXattr("f", "user.overlay.whiteout")),
		},
		{
			Name:   "xattr-security",
			Layers: layers(tb().xattrFile("f", map[string]string{"security.selinux": "system_u:object_r:shadow_t:s0"})),
			Entry:  "f",
			Check:  noXattr("f", "security.selinux"),
		},
		{
			Name:   "setuid",
			Layers: layers(tb().file("bin/su", Content, 0o4755).file("bin/sg", Content, 0o2755)),
			Check:  modeAt("bin/su", unix.S_IFREG|0o4755),
		},
		{
			Name:   "nul-name",
			Layers: [][]byte{RawFile("inside\x00/"+upCanary, Content)},
			Check:  inside("inside"),
		},
		{
			Name:   "deep",
			Layers: layers(deep(200, "level-%03d")),
			Check:  inside(deepPath(200, "level-%03d") + "f"),
		},
		{
			// path longer than PATH_MAX: must fail cleanly
			Name:    "too-long-path",
			Layers:  layers(deep(500, "level-%03d")),
			Refused: true,
		},
		{
			Name:    "too-long-name",
			Layers:  layers(tb().file(strings.Repeat("n", 300), Content, 0o644)),
			Refused: true,
			Entry:   strings.Repeat("n", 300),
		},
		{
			Name:    "symlink-loop",
			Layers:  layers(tb().symlink("a", "b").symlink("b", "a").file("a/x", Content, 0o644)),
			Refused: true,
			Entry:   "a/x",
		},
		{
			Name:    "symlink-self-loop",
			Layers:  layers(tb().symlink("s", "s").dir("s/d", 0o755)),
			Refused: true,
			Entry:   "s/d",
		},
		{
			Name:    "symlink-dangling-dir",
			Layers:  layers(tb().symlink("link", "/nonexistent/dir").file("link/f", Content, 0o644)),
			Refused: true,
			Entry:   "link/f",
		},
		{
			Name: "root-entry",
			Layers: layers(tb().dir("./", 0o777).
				xattrDir("/", map[string]string{"user.overlay.opaque": "y"})),
			Entry: "/",
			Check: func(dirs []string) error {
				st, err := os.Lstat(dirs[0])
				if err != nil {
					return err
				}
				if st.Mode().Perm() == 0o777 {
					return fmt.Errorf("%s: layer root mode changed to %v", dirs[0], st.Mode())
				}
				return noXattr(".", "user.overlay.opaque")(dirs)
			},
		},
		{
			Name:   "unknown-type",
			Layers: layers(tb().hdr(&tar.Header{Name: "odd", Typeflag: 'Z', Mode: 0o644}, nil)),
			Entry:  "odd",
			Check:  absent("odd"),
		},
	}
	return cs
}

// Regular checks that p is a regular file holding content.
func Regular(p, content string) error {
	st, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file but %v", p, st.Mode())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if string(b) != content {
		return fmt.Errorf("%s holds %q, want %q", p, b, content)
	}
	return nil
}

// Symlink checks that p is a symlink to target.
func Symlink(p, target string) error {
	t, err := os.Readlink(p)
	if err != nil {
		return err
	}
	if t != target {
		return fmt.Errorf("%s links to %q, want %q", p, t, target)
	}
	return nil
}

// Dir checks that p is a directory of permissions perm.
func Dir(p string, perm os.FileMode) error {
	st, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !st.IsDir() || st.Mode().Perm() != perm {
		return fmt.Errorf("%s: mode %v, want a directory %v", p, st.Mode(), perm)
	}
	return nil
}

// Whiteout checks that p is an overlayfs whiteout, a 0/0 character device.
func Whiteout(p string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		return fmt.Errorf("%s: mode %#o rdev %#x, want a 0/0 character device", p, st.Mode, st.Rdev)
	}
	return nil
}

// SameFile checks that a and b are the same inode (hardlinks).
func SameFile(a, b string) error {
	var sa, sb unix.Stat_t
	if err := unix.Lstat(a, &sa); err != nil {
		return &os.PathError{Op: "lstat", Path: a, Err: err}
	}
	if err := unix.Lstat(b, &sb); err != nil {
		return &os.PathError{Op: "lstat", Path: b, Err: err}
	}
	if sa.Dev != sb.Dev || sa.Ino != sb.Ino {
		return fmt.Errorf("%s and %s are different files", a, b)
	}
	return nil
}

// Xattr returns the value of the xattr name of p (not following symlinks).
func Xattr(p, name string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", &os.PathError{Op: "getxattr " + name, Path: p, Err: err}
	}
	return string(buf[:n]), nil
}

func all(checks ...func([]string) error) func([]string) error {
	return func(dirs []string) error {
		var errs []error
		for _, c := range checks {
			errs = append(errs, c(dirs))
		}
		return errors.Join(errs...)
	}
}

// inside checks that the first layer holds Content at rel.
func inside(rel string) func([]string) error {
	return func(dirs []string) error { return Regular(filepath.Join(dirs[0], rel), Content) }
}

func absent(rel string) func([]string) error {
	return func(dirs []string) error {
		p := filepath.Join(dirs[0], rel)
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s should not exist (%v)", p, err)
		}
		return nil
	}
}

func symlinkAt(rel, target string) func([]string) error {
	return func(dirs []string) error { return Symlink(filepath.Join(dirs[0], rel), target) }
}

func whiteoutAt(rel string) func([]string) error {
	return func(dirs []string) error { return Whiteout(filepath.Join(dirs[0], rel)) }
}

func modeAt(rel string, want uint32) func([]string) error {
	return func(dirs []string) error { return mode(filepath.Join(dirs[0], rel), want) }
}

func mode(p string, want uint32) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	if st.Mode != want {
		return fmt.Errorf("%s: mode %#o, want %#o", p, st.Mode, want)
	}
	return nil
}

func opaqueAt(rel, want string) func([]string) error {
	return xattrAt(rel, "user.overlay.opaque", want)
}

func xattrAt(rel, name, want string) func([]string) error {
	return func(dirs []string) error {
		p := filepath.Join(dirs[0], rel)
		v, err := Xattr(p, name)
		if err != nil {
			return err
		}
		if v != want {
			return fmt.Errorf("%s: xattr %s is %q, want %q", p, name, v, want)
		}
		return nil
	}
}

func noXattr(rel, name string) func([]string) error {
	return func(dirs []string) error {
		p := filepath.Join(dirs[0], rel)
		if v, err := Xattr(p, name); err == nil {
			return fmt.Errorf("%s: xattr %s is set (%q)", p, name, v)
		}
		return nil
	}
}

// builder writes a tar stream with archive/tar; errors are bugs of this
// package, so they panic.
type builder struct {
	buf bytes.Buffer
	w   *tar.Writer
}

func tb() *builder {
	b := &builder{}
	b.w = tar.NewWriter(&b.buf)
	return b
}

func (b *builder) hdr(h *tar.Header, content []byte) *builder {
	if h.ModTime.IsZero() {
		h.ModTime = ModTime
	}
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(content))
	}
	if err := b.w.WriteHeader(h); err != nil {
		panic(fmt.Sprintf("hostile: %q: %v", h.Name, err))
	}
	if _, err := b.w.Write(content); err != nil {
		panic(fmt.Sprintf("hostile: %q: %v", h.Name, err))
	}
	return b
}

func (b *builder) file(name, content string, mode int64) *builder {
	return b.hdr(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, []byte(content))
}

func (b *builder) xattrFile(name string, xattrs map[string]string) *builder {
	return b.hdr(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, PAXRecords: pax(xattrs)}, []byte(Content))
}

func (b *builder) dir(name string, mode int64) *builder {
	return b.hdr(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}, nil)
}

func (b *builder) xattrDir(name string, xattrs map[string]string) *builder {
	return b.hdr(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, PAXRecords: pax(xattrs)}, nil)
}

func (b *builder) symlink(name, target string) *builder {
	return b.hdr(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}, nil)
}

func (b *builder) hardlink(name, target string) *builder {
	return b.hdr(&tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644}, nil)
}

func (b *builder) fifo(name string, mode int64) *builder {
	return b.hdr(&tar.Header{Name: name, Typeflag: tar.TypeFifo, Mode: mode}, nil)
}

func (b *builder) device(name string, typ byte, major, minor int64) *builder {
	return b.hdr(&tar.Header{Name: name, Typeflag: typ, Mode: 0o666, Devmajor: major, Devminor: minor}, nil)
}

func (b *builder) bytes() []byte {
	if err := b.w.Close(); err != nil {
		panic(fmt.Sprintf("hostile: %v", err))
	}
	return b.buf.Bytes()
}

func layers(bs ...*builder) [][]byte {
	var out [][]byte
	for _, b := range bs {
		out = append(out, b.bytes())
	}
	return out
}

func pax(xattrs map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range xattrs {
		m["SCHILY.xattr."+k] = v
	}
	return m
}

func deepPath(levels int, format string) string {
	var sb strings.Builder
	for i := range levels {
		fmt.Fprintf(&sb, format+"/", i)
	}
	return sb.String()
}

// deep nests levels directories, each with an entry, and a file at the
// bottom.
func deep(levels int, format string) *builder {
	b := tb()
	p := ""
	for i := range levels {
		p += fmt.Sprintf(format+"/", i)
		b.dir(p, 0o755)
	}
	return b.file(p+"f", Content, 0o644)
}

// Raw tar encoding, for what archive/tar's Writer will not write.

const blockSize = 512

// rawHeader makes a header block. gnu selects the GNU magic, which old GNU
// sparse headers need. Numbers that do not fit in octal are written in
// base-256.
func rawHeader(name string, typeflag byte, size int64, gnu bool) []byte {
	b := make([]byte, blockSize)
	copy(b[0:100], name)
	putNumber(b[100:108], 0o644)
	putNumber(b[108:116], 0)
	putNumber(b[116:124], 0)
	putNumber(b[124:136], size)
	putNumber(b[136:148], ModTime.Unix())
	b[156] = typeflag
	if gnu {
		copy(b[257:265], "ustar  \x00")
	} else {
		copy(b[257:265], "ustar\x0000")
	}
	return b
}

// finishHeader writes the checksum of a header block.
func finishHeader(b []byte) []byte {
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func putNumber(field []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	if len(s) < len(field) {
		copy(field, fmt.Sprintf("%0*s\x00", len(field)-1, s))
		return
	}
	clear(field)
	binary.BigEndian.PutUint64(field[len(field)-8:], uint64(v))
	field[0] = 0x80
}

func pad(b []byte) []byte {
	if r := len(b) % blockSize; r != 0 {
		b = append(b, make([]byte, blockSize-r)...)
	}
	return b
}

func endOfArchive(b []byte) []byte { return append(b, make([]byte, 2*blockSize)...) }

// GNUSparse is a layer of one old GNU sparse file ('S'): logical size
// realSize, data at offset, holes elsewhere.
func GNUSparse(name string, realSize, offset int64, data []byte) []byte {
	h := rawHeader(name, tar.TypeGNUSparse, int64(len(data)), true)
	putNumber(h[386:398], offset)           // sparse[0].offset
	putNumber(h[398:410], int64(len(data))) // sparse[0].numbytes
	putNumber(h[483:495], realSize)         // realsize
	out := append(finishHeader(h), pad(bytes.Clone(data))...)
	return endOfArchive(out)
}

// PAXSparse is a layer of one PAX sparse file, format 1.0: logical size
// realSize, data at offset, holes elsewhere.
func PAXSparse(name string, realSize, offset int64, data []byte) []byte {
	var recs []byte
	for _, kv := range [][2]string{
		{"GNU.sparse.major", "1"},
		{"GNU.sparse.minor", "0"},
		{"GNU.sparse.name", name},
		{"GNU.sparse.realsize", strconv.FormatInt(realSize, 10)},
	} {
		recs = append(recs, paxRecord(kv[0], kv[1])...)
	}
	out := finishHeader(rawHeader("PaxHeaders/"+name, tar.TypeXHeader, int64(len(recs)), false))
	out = append(out, pad(recs)...)
	sparseMap := pad(fmt.Appendf(nil, "1\n%d\n%d\n", offset, len(data)))
	stored := append(sparseMap, pad(bytes.Clone(data))...)
	out = append(out, finishHeader(rawHeader("GNUSparseFile.0/"+name, tar.TypeReg, int64(len(sparseMap)+len(data)), false))...)
	out = append(out, stored...)
	return endOfArchive(out)
}

func paxRecord(k, v string) []byte {
	rec := " " + k + "=" + v + "\n"
	n := len(rec) + 1
	for len(strconv.Itoa(n))+len(rec) != n {
		n = len(strconv.Itoa(n)) + len(rec)
	}
	return []byte(strconv.Itoa(n) + rec)
}

// Truncated is a stream whose regular file claims size bytes but holds only
// data, then ends.
func Truncated(name string, size int64, data []byte) []byte {
	return append(finishHeader(rawHeader(name, tar.TypeReg, size, false)), data...)
}

// RawFile is a layer of one regular file whose name is written as is in
// a ustar header, which archive/tar's Writer would refuse (it may hold a
// NUL, up to 100 bytes).
func RawFile(name, content string) []byte {
	out := finishHeader(rawHeader(name, tar.TypeReg, int64(len(content)), false))
	out = append(out, pad([]byte(content))...)
	return endOfArchive(out)
}
