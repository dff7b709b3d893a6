package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateEnv(t *testing.T) {
	for _, ok := range [][]string{nil, {"A=b"}, {"A="}, {"A"}, {"A=b=c", "a b=x"}} {
		if err := ValidateEnv(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"=x", "=", ""} {
		err := ValidateEnv([]string{"A=b", bad})
		if want := `invalid environment variable: "` + bad + `"`; err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", bad, err, want)
		}
	}
}

func TestCheckMountDestination(t *testing.T) {
	for _, ok := range []string{"/x", "/proc/x", "/dev/fuse", "/sysroot", "/device"} {
		if err := CheckMountDestination(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"/proc", "/proc/", "//sys", "/dev/.", "/x/../dev", "relative"} {
		if err := CheckMountDestination(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if err := CheckMountDestination("/proc"); err == nil || !strings.Contains(err.Error(), "/proc") {
		t.Errorf("/proc: %v", err)
	}
}

func TestParseMountOptions(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		v, typ string
		opts   []string
	}{
		{"type=tmpfs,dst=/x", "tmpfs", []string{"rw", "nosuid", "nodev"}},
		{"type=tmpfs,target=/x,tmpfs-size=1m,tmpfs-mode=1777,ro,notmpcopyup,consistency=cached", "tmpfs", []string{"rw", "nosuid", "nodev", "ro", "size=1m", "mode=1777"}},
		{"type=bind,src=" + dir + ",dst=/x", "bind", []string{"rbind"}},
		{"type=bind,src=" + dir + ",dst=/x,readonly=true,noexec,z,relabel=shared", "bind", []string{"rbind", "noexec", "ro"}},
		{"type=bind,src=" + dir + ",dst=/x,rw=false", "bind", []string{"rbind", "ro"}},
		{"type=bind,src=" + dir + ",dst=/x,ro=false", "bind", []string{"rbind"}},
		{"type=bind,src=" + dir + ",dst=/x,bind-propagation=rshared,bind-nonrecursive,U", "bind", []string{"bind", "rshared", ChownOption}},
		{"type=bind,src=" + dir + ",dst=/x,chown=false,rslave", "bind", []string{"rbind", "rslave"}},
		{"type=volume,src=v,dst=/x,ro,chown,nocopy,nodev", "volume", []string{"rbind", ChownOption, "nodev", "ro"}},
	} {
		m, err := ParseMount(c.v)
		if err != nil {
			t.Errorf("%s: %v", c.v, err)
			continue
		}
		if m.Type != c.typ || m.Destination != "/x" || !slices.Equal(m.Options, c.opts) {
			t.Errorf("%s: got %s %s %q, want %s /x %q", c.v, m.Type, m.Destination, m.Options, c.typ, c.opts)
		}
	}
	for _, c := range []struct{ v, want string }{
		{"type=weird,dst=/x", `invalid filesystem type "weird"`},
		{"type=tmpfs,dst=/x,bogus=1", "bogus: invalid mount option"},
		{"type=tmpfs,dst=/x,bogus", "bogus: invalid mount option"},
		{"type=volume,src=v,dst=/x,relabel=shared", "relabel: invalid mount option"},
		{"type=tmpfs,dst=/x,bind-propagation=rshared", "bind-propagation: invalid mount option"},
		{"type=bind,src=" + dir + ",dst=/x,tmpfs-size=1m", "tmpfs-size: invalid mount option"},
		{"type=tmpfs,src=x,dst=/x", "takes no source"},
		{"type=bind,src=" + dir + ",dst=/x,ro=maybe", "ro=maybe: want true or false"},
		{"type=bind,src=" + dir + ",dst=/x,noexec=1", "noexec: the option takes no value"},
		{"type=bind,src=" + dir + ",dst=/x,bind-propagation=sideways", "bind-propagation=sideways"},
		{"type=bind,src=" + dir + ",dst=/x,dst=/y", "destination given more than once"},
		{"dst=/x", "no type"},
		{"type=tmpfs", "no destination"},
		{"type=bind,dst=/x", "no source"},
	} {
		_, err := ParseMount(c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.v, err, c.want)
		}
	}
}
