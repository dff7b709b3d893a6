package rootfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		options []string
		want    mountOpts
	}{
		{name: "nil", options: nil, want: mountOpts{}},
		{name: "empty", options: []string{}, want: mountOpts{}},
		{name: "ro", options: []string{"ro"}, want: mountOpts{flags: unix.MS_RDONLY}},
		{name: "nosuid nodev noexec", options: []string{"nosuid", "nodev", "noexec"},
			want: mountOpts{flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}},
		{name: "bind", options: []string{"bind"}, want: mountOpts{flags: unix.MS_BIND}},
		{name: "rbind", options: []string{"rbind"}, want: mountOpts{flags: unix.MS_BIND | unix.MS_REC}},
		{name: "rw clears ro", options: []string{"ro", "rw"}, want: mountOpts{}},
		{name: "ro after rw", options: []string{"rw", "ro"}, want: mountOpts{flags: unix.MS_RDONLY}},
		{name: "rw clears only ro", options: []string{"ro", "nosuid", "rw"}, want: mountOpts{flags: unix.MS_NOSUID}},
		{name: "rw alone", options: []string{"rw"}, want: mountOpts{}},
		{name: "suid dev exec clear", options: []string{"nosuid", "nodev", "noexec", "suid", "dev", "exec"}, want: mountOpts{}},
		{name: "relatime", options: []string{"relatime"}, want: mountOpts{flags: unix.MS_RELATIME}},
		{name: "strictatime", options: []string{"strictatime"}, want: mountOpts{flags: unix.MS_STRICTATIME}},
		{name: "noatime then atime", options: []string{"noatime", "atime"}, want: mountOpts{}},
		{name: "nodiratime", options: []string{"nodiratime"}, want: mountOpts{flags: unix.MS_NODIRATIME}},
		{name: "sync dirsync", options: []string{"sync", "dirsync"}, want: mountOpts{flags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC}},
		{name: "remount", options: []string{"remount", "ro"}, want: mountOpts{flags: unix.MS_REMOUNT | unix.MS_RDONLY}},
		{name: "repeated flag", options: []string{"ro", "ro"}, want: mountOpts{flags: unix.MS_RDONLY}},
		{name: "rprivate", options: []string{"rprivate"}, want: mountOpts{propagation: unix.MS_PRIVATE | unix.MS_REC}},
		{name: "private", options: []string{"private"}, want: mountOpts{propagation: unix.MS_PRIVATE}},
		{name: "rslave", options: []string{"rslave"}, want: mountOpts{propagation: unix.MS_SLAVE | unix.MS_REC}},
		{name: "slave", options: []string{"slave"}, want: mountOpts{propagation: unix.MS_SLAVE}},
		{name: "shared", options: []string{"shared"}, want: mountOpts{propagation: unix.MS_SHARED}},
		{name: "rshared", options: []string{"rshared"}, want: mountOpts{propagation: unix.MS_SHARED | unix.MS_REC}},
		{name: "runbindable", options: []string{"runbindable"}, want: mountOpts{propagation: unix.MS_UNBINDABLE | unix.MS_REC}},
		{name: "last propagation wins", options: []string{"rshared", "private"}, want: mountOpts{propagation: unix.MS_PRIVATE}},
		{name: "propagation is not a flag", options: []string{"rbind", "rprivate", "ro"},
			want: mountOpts{flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, propagation: unix.MS_PRIVATE | unix.MS_REC}},
		{name: "rro", options: []string{"rro"}, want: mountOpts{recursiveRO: true}},
		{name: "rro with rbind", options: []string{"rbind", "rro"}, want: mountOpts{flags: unix.MS_BIND | unix.MS_REC, recursiveRO: true}},
		{name: "rrw is the default", options: []string{"rrw"}, want: mountOpts{}},
		{name: "z and Z ignored", options: []string{"z", "Z"}, want: mountOpts{}},
		{name: "z among flags", options: []string{"bind", "Z", "ro"}, want: mountOpts{flags: unix.MS_BIND | unix.MS_RDONLY}},
		{name: "empty option ignored", options: []string{"", "ro", ""}, want: mountOpts{flags: unix.MS_RDONLY}},
		{name: "data only", options: []string{"mode=755"}, want: mountOpts{data: "mode=755"}},
		{name: "dev tmpfs", options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			want: mountOpts{flags: unix.MS_NOSUID | unix.MS_STRICTATIME, data: "mode=755,size=65536k"}},
		{name: "devpts", options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			want: mountOpts{flags: unix.MS_NOSUID | unix.MS_NOEXEC, data: "newinstance,ptmxmode=0666,mode=0620,gid=5"}},
		{name: "data order kept around flags", options: []string{"uid=0", "ro", "gid=5", "rprivate", "size=1m"},
			want: mountOpts{flags: unix.MS_RDONLY, propagation: unix.MS_PRIVATE | unix.MS_REC, data: "uid=0,gid=5,size=1m"}},
		{name: "unknown words go to data", options: []string{"lowerdir=/a:/b", "userxattr"},
			want: mountOpts{data: "lowerdir=/a:/b,userxattr"}},
		{name: "options are case-sensitive", options: []string{"RO"}, want: mountOpts{data: "RO"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseOptions(tt.options); got != tt.want {
				t.Errorf("parseOptions(%q) = %+v, want %+v", tt.options, got, tt.want)
			}
		})
	}
}

// Every flag option and its opposite cancel out, in that order.
func TestParseOptionsOpposites(t *testing.T) {
	pairs := [][2]string{
		{"ro", "rw"}, {"nosuid", "suid"}, {"nodev", "dev"}, {"noexec", "exec"},
		{"sync", "async"}, {"mand", "nomand"}, {"noatime", "atime"},
		{"nodiratime", "diratime"}, {"relatime", "norelatime"},
	}
	for _, p := range pairs {
		set := parseOptions([]string{p[0]})
		if set.flags == 0 || set.data != "" {
			t.Errorf("parseOptions(%q) = %+v, want a flag", p[0], set)
		}
		if got := parseOptions([]string{p[0], p[1]}); got != (mountOpts{}) {
			t.Errorf("parseOptions(%q, %q) = %+v, want nothing", p[0], p[1], got)
		}
	}
}
