package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const testPasswd = `# the container's users
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:100:Bob:/home/bob:/bin/sh
carol:x:1002:1002::/home/carol:/bin/sh
short:x:1003
`

const testGroup = `# the container's groups
root:x:0:
daemon:x:1:
tty:x:5:
wheel:x:10:alice,bob
audio:x:29:carol,alice
users:x:100:bob
alice:x:1000:alice
carol:x:1002:
video:x:44:
notmembers:x:45:alicex,xalice
`

// writeRootfs makes a root filesystem directory holding etc/passwd and
// etc/group (either may be "" for absent).
func writeRootfs(t *testing.T, passwd, group string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"passwd": passwd, "group": group} {
		if content == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestResolveUser(t *testing.T) {
	rootfs := writeRootfs(t, testPasswd, testGroup)
	tests := []struct {
		value    string
		want     specs.User
		wantHome string
		errHas   string // "" for success
	}{
		// No user given: no primary group added (as podman).
		{value: "", want: specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{}}, wantHome: "/root"},
		{value: "0", want: specs.User{UID: 0, GID: 0}, wantHome: "/root"},
		{value: "root", want: specs.User{UID: 0, GID: 0}, wantHome: "/root"},
		{value: "1", want: specs.User{UID: 1, GID: 1}, wantHome: "/usr/sbin"},
		// Supplementary groups come from member lists, in file order; the
		// primary group (alice, 1000) is not repeated.
		{value: "1000", want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 29}}, wantHome: "/home/alice"},
		{value: "alice", want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 29}}, wantHome: "/home/alice"},
		// bob's primary group (users, 100) lists him but is not repeated.
		{value: "bob", want: specs.User{UID: 1001, GID: 100, AdditionalGids: []uint32{10}}, wantHome: "/home/bob"},
		{value: "1001", want: specs.User{UID: 1001, GID: 100, AdditionalGids: []uint32{10}}, wantHome: "/home/bob"},
		{value: "carol", want: specs.User{UID: 1002, GID: 1002, AdditionalGids: []uint32{29}}, wantHome: "/home/carol"},
		// A group given replaces the primary group and drops supplementary ones.
		{value: "1000:10", want: specs.User{UID: 1000, GID: 10}, wantHome: "/home/alice"},
		{value: "alice:44", want: specs.User{UID: 1000, GID: 44}, wantHome: "/home/alice"},
		{value: "alice:video", want: specs.User{UID: 1000, GID: 44}, wantHome: "/home/alice"},
		{value: "1000:wheel", want: specs.User{UID: 1000, GID: 10}, wantHome: "/home/alice"},
		{value: "alice:4242", want: specs.User{UID: 1000, GID: 4242}, wantHome: "/home/alice"},
		{value: "root:tty", want: specs.User{UID: 0, GID: 5}, wantHome: "/root"},
		// Numeric ids without an entry: gid 0, no home, no groups.
		{value: "4242", want: specs.User{UID: 4242, GID: 0}, wantHome: ""},
		{value: "4242:4243", want: specs.User{UID: 4242, GID: 4243}, wantHome: ""},
		{value: "4242:video", want: specs.User{UID: 4242, GID: 44}, wantHome: ""},
		{value: "4294967294", errHas: "uids and gids must be in range"},
		// An entry with too few fields is a user of gid 0 and no home (as runc).
		{value: "short", want: specs.User{UID: 1003}, wantHome: ""},
		{value: "1003", want: specs.User{UID: 1003}, wantHome: ""},
		// Errors.
		{value: "nobody", errHas: "unable to find user nobody: no matching entries in passwd file"},
		{value: "Alice", errHas: "unable to find user Alice: no matching entries in passwd file"},
		{value: "nobody:video", errHas: "unable to find user nobody"},
		{value: "alice:nogroup", errHas: "unable to find group nogroup: no matching entries in group file"},
		{value: "4242:nogroup", errHas: "unable to find group nogroup: no matching entries in group file"},
	}
	for _, tt := range tests {
		t.Run("user="+tt.value, func(t *testing.T) {
			u, home, err := ResolveUser(rootfs, tt.value)
			if tt.errHas != "" {
				if err == nil {
					t.Fatalf("ResolveUser(%q) = %+v, %q, nil; want error %q", tt.value, u, home, tt.errHas)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("ResolveUser(%q) error %q, want it to contain %q", tt.value, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveUser(%q): %v", tt.value, err)
			}
			if !sameUser(u, tt.want) {
				t.Errorf("ResolveUser(%q) user = %+v, want %+v", tt.value, u, tt.want)
			}
			if home != tt.wantHome {
				t.Errorf("ResolveUser(%q) home = %q, want %q", tt.value, home, tt.wantHome)
			}
		})
	}
}

// sameUser compares ids and groups, treating nil and empty group lists alike.
// sameUser reports whether a is b with b's primary group added to its
// supplementary ones (last, unless there already), as podman adds it when
// a user is given; an empty, non-nil list in b means none is added.
func sameUser(a, b specs.User) bool {
	if b.AdditionalGids == nil || len(b.AdditionalGids) > 0 && !slices.Contains(b.AdditionalGids, b.GID) {
		b.AdditionalGids = append(slices.Clone(b.AdditionalGids), b.GID)
	}
	if a.UID != b.UID || a.GID != b.GID || len(a.AdditionalGids) != len(b.AdditionalGids) {
		return false
	}
	return len(a.AdditionalGids) == 0 || reflect.DeepEqual(a.AdditionalGids, b.AdditionalGids)
}

func TestResolveUserMissingFiles(t *testing.T) {
	tests := []struct {
		name     string
		rootfs   func(t *testing.T) string
		value    string
		want     specs.User
		wantHome string
		errHas   string
	}{
		{
			name:   "no etc, numeric user",
			rootfs: func(t *testing.T) string { return t.TempDir() },
			value:  "1000",
			want:   specs.User{UID: 1000},
		},
		{
			name:   "no etc, numeric user and group",
			rootfs: func(t *testing.T) string { return t.TempDir() },
			value:  "1000:5",
			want:   specs.User{UID: 1000, GID: 5},
		},
		{
			name:   "no etc, default user",
			rootfs: func(t *testing.T) string { return t.TempDir() },
			value:  "",
			want:   specs.User{AdditionalGids: []uint32{}},
		},
		{
			name:   "no etc, named user",
			rootfs: func(t *testing.T) string { return t.TempDir() },
			value:  "root",
			errHas: "unable to find user root",
		},
		{
			name:   "no etc, named group",
			rootfs: func(t *testing.T) string { return t.TempDir() },
			value:  "0:wheel",
			errHas: "unable to find group wheel",
		},
		{
			name:   "rootfs does not exist, numeric user",
			rootfs: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			value:  "7:8",
			want:   specs.User{UID: 7, GID: 8},
		},
		{
			name:     "passwd without group file",
			rootfs:   func(t *testing.T) string { return writeRootfs(t, testPasswd, "") },
			value:    "alice",
			want:     specs.User{UID: 1000, GID: 1000},
			wantHome: "/home/alice",
		},
		{
			name:   "group without passwd file, numeric user, named group",
			rootfs: func(t *testing.T) string { return writeRootfs(t, "", testGroup) },
			value:  "1000:wheel",
			want:   specs.User{UID: 1000, GID: 10},
		},
		{
			name:   "group without passwd file, numeric user gets no supplementary groups",
			rootfs: func(t *testing.T) string { return writeRootfs(t, "", testGroup) },
			value:  "1000",
			want:   specs.User{UID: 1000},
		},
		{
			name: "passwd is a directory",
			rootfs: func(t *testing.T) string {
				root := writeRootfs(t, "", testGroup)
				if err := os.Mkdir(filepath.Join(root, "etc", "passwd"), 0o755); err != nil {
					t.Fatal(err)
				}
				return root
			},
			value: "1000",
			want:  specs.User{UID: 1000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, home, err := ResolveUser(tt.rootfs(t), tt.value)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("ResolveUser(%q) = %+v, %q, %v; want error %q", tt.value, u, home, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveUser(%q): %v", tt.value, err)
			}
			if !sameUser(u, tt.want) || home != tt.wantHome {
				t.Errorf("ResolveUser(%q) = %+v, %q; want %+v, %q", tt.value, u, home, tt.want, tt.wantHome)
			}
		})
	}
}

// A root filesystem is untrusted: links in it must resolve inside it, never
// to the host's files.
func TestResolveUserStaysInRootfs(t *testing.T) {
	// outside is a directory outside the root filesystem with a user
	// nobody else has.
	outside := t.TempDir()
	if err := os.Mkdir(filepath.Join(outside, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	evilPasswd := "evil:x:4321:4321:evil:/evil-home:/bin/sh\nroot:x:0:0:root:/host-root:/bin/sh\n"
	evilGroup := "evilgroup:x:4322:evil,root\n"
	for name, content := range map[string]string{"passwd": evilPasswd, "group": evilGroup} {
		if err := os.WriteFile(filepath.Join(outside, "etc", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The outside files are valid: read as a root filesystem, they resolve.
	if u, home, err := ResolveUser(outside, "evil"); err != nil || u.UID != 4321 || home != "/evil-home" {
		t.Fatalf("fixture broken: ResolveUser(outside, evil) = %+v, %q, %v", u, home, err)
	}

	link := func(t *testing.T, target, name string) string {
		t.Helper()
		root := t.TempDir()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return root
	}
	rel, err := filepath.Rel("/", outside)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		rootfs func(t *testing.T) string
	}{
		{"etc links to an absolute outside directory", func(t *testing.T) string {
			return link(t, filepath.Join(outside, "etc"), "etc")
		}},
		{"etc links out with ..", func(t *testing.T) string {
			return link(t, strings.Repeat("../", 64)+rel+"/etc", "etc")
		}},
		{"etc/passwd and etc/group link to absolute outside files", func(t *testing.T) string {
			root := link(t, filepath.Join(outside, "etc", "passwd"), "etc/passwd")
			if err := os.Symlink(filepath.Join(outside, "etc", "group"), filepath.Join(root, "etc", "group")); err != nil {
				t.Fatal(err)
			}
			return root
		}},
		{"etc links through /proc/self/root", func(t *testing.T) string {
			return link(t, "/proc/self/root"+filepath.Join(outside, "etc"), "etc")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tt.rootfs(t)
			if u, home, err := ResolveUser(root, "evil"); err == nil {
				t.Errorf("ResolveUser(evil) = %+v, %q: read a passwd file outside the root filesystem", u, home)
			}
			if u, home, err := ResolveUser(root, "0:evilgroup"); err == nil {
				t.Errorf("ResolveUser(0:evilgroup) = %+v, %q: read a group file outside the root filesystem", u, home)
			}
			u, home, err := ResolveUser(root, "0")
			if err != nil {
				t.Fatalf("ResolveUser(0): %v", err)
			}
			if home != "" || !sameUser(u, specs.User{}) {
				t.Errorf("ResolveUser(0) = %+v, %q: home or groups from outside the root filesystem", u, home)
			}
		})
	}

	t.Run("etc links to the host's /etc", func(t *testing.T) {
		root := link(t, "/etc", "etc")
		if u, home, err := ResolveUser(root, "root"); err == nil {
			t.Errorf("ResolveUser(root) = %+v, %q: read the host's /etc/passwd", u, home)
		}
		if u, home, err := ResolveUser(root, "0"); err != nil || home != "" {
			t.Errorf("ResolveUser(0) = %+v, %q, %v; want uid 0 with no home", u, home, err)
		}
	})

	t.Run("absolute link resolves inside the root filesystem", func(t *testing.T) {
		// etc -> /real/etc is followed, relative to the root filesystem.
		root := writeRootfs(t, "", "")
		real := filepath.Join(root, "real", "etc")
		if err := os.MkdirAll(real, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(real, "passwd"), []byte("inside:x:77:78:in:/inside-home:/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(real, "group"), []byte("grp:x:79:inside\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(root, "etc")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/real/etc", filepath.Join(root, "etc")); err != nil {
			t.Fatal(err)
		}
		u, home, err := ResolveUser(root, "inside")
		if err != nil {
			t.Fatalf("ResolveUser(inside): %v", err)
		}
		want := specs.User{UID: 77, GID: 78, AdditionalGids: []uint32{79}}
		if !sameUser(u, want) || home != "/inside-home" {
			t.Errorf("ResolveUser(inside) = %+v, %q; want %+v, /inside-home", u, home, want)
		}
	})
}

// A numeric user is matched to its passwd entry by value, as runc does.
func TestResolveUserNumericByValue(t *testing.T) {
	rootfs := writeRootfs(t, testPasswd, testGroup)
	u, home, err := ResolveUser(rootfs, "01000")
	if err != nil {
		t.Fatal(err)
	}
	if u.UID != 1000 || u.GID != 1000 || home != "/home/alice" {
		t.Errorf("ResolveUser(01000) = %+v, %q; want uid 1000 gid 1000 home /home/alice", u, home)
	}
}

func TestLookupUID(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\n# comment\n  app:x:1000:1000::/home/app:/bin/sh  \nnohome:x:1001:1001:::/bin/sh\nshort:x:1002\n")
	for _, tc := range []struct {
		uid  uint32
		home string
		ok   bool
	}{{0, "/root", true}, {1000, "/home/app", true}, {1001, "", true}, {1002, "", true}, {7, "", false}} {
		if home, ok := LookupUID(passwd, tc.uid); home != tc.home || ok != tc.ok {
			t.Errorf("LookupUID(%d) = %q, %v; want %q, %v", tc.uid, home, ok, tc.home, tc.ok)
		}
	}
	if _, ok := LookupUID(nil, 0); ok {
		t.Error("an entry in no passwd")
	}
}

// podman's entries for numeric ids the image's files lack.
func TestMissingEntries(t *testing.T) {
	for _, tc := range []struct {
		value, home      string
		gid              uint32
		passwd, groupAdd string
	}{
		{"4242", "", 0, "4242:*:4242:0:container user:/:/bin/sh\n", ""},
		{"4242", "/work", 0, "4242:*:4242:0:container user:/work:/bin/sh\n", ""},
		{"1000:1000", "", 1000, "", ""},
		{"1000:4243", "", 4243, "", "4243:x:4243:1000\n"},
		{"4242:4243", "", 4243, "4242:*:4242:4243:container user:/:/bin/sh\n", "4243:x:4243:4242\n"},
		{"alice", "", 1000, "", ""},
		{"alice:wheel", "", 10, "", ""},
		{"0", "", 0, "", ""},
	} {
		p, g := MissingEntries([]byte(testPasswd), []byte(testGroup), tc.value, tc.gid, tc.home)
		if p != tc.passwd || g != tc.groupAdd {
			t.Errorf("MissingEntries(%q) = %q, %q; want %q, %q", tc.value, p, g, tc.passwd, tc.groupAdd)
		}
	}
}

func TestResolveGroups(t *testing.T) {
	gids, err := ResolveGroups([]byte(testGroup), []string{"wheel", "4242", "video"})
	if err != nil || !reflect.DeepEqual(gids, []uint32{10, 4242, 44}) {
		t.Errorf("ResolveGroups = %v, %v; want [10 4242 44]", gids, err)
	}
	if _, err := ResolveGroups([]byte(testGroup), []string{"nogroup"}); err == nil || !strings.Contains(err.Error(), "unable to find group nogroup") {
		t.Errorf("an unknown group: %v", err)
	}
}
