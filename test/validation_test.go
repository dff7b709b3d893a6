package test

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestValidation: bad input to run fails with podman's exit status and one
// error line that names what is wrong.
func TestValidation(t *testing.T) {
	registry(t)
	root := imageStore(t)
	mustImg(t, root, "pull", "-q", parityImage)
	run := func(flags []string, cmd ...string) []string { return runArgs(flags, cmd...) }
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"uid-outside", run([]string{"-u", "70000"}, "id"), 126, "uid 70000 is outside the "},
		{"gid-outside", run([]string{"-u", "0:70000"}, "id"), 126, "gid 70000 is outside the "},
		{"env", run([]string{"-e", "=x"}, "true"), 125, `invalid environment variable: "=x"`},
		{"dns", run([]string{"--dns", "999.1.1.1"}, "true"), 125, "999.1.1.1 is not an ip address"},
		{"workdir-missing", run([]string{"-w", "/new/dir"}, "pwd"), 126, `workdir "/new/dir" does not exist`},
		{"workdir-relative", run([]string{"-w", "relative"}, "pwd"), 126, `workdir "relative"`},
		{"workdir-file", run([]string{"-w", "/etc/passwd"}, "pwd"), 126, "not a directory"},
		{"mount-type", run([]string{"--mount", "type=weird,dst=/x"}, "true"), 125, `invalid filesystem type "weird"`},
		{"mount-option", run([]string{"--mount", "type=tmpfs,dst=/x,bogus=1"}, "true"), 125, "bogus: invalid mount option"},
		{"volume-on-proc", run([]string{"-v", "/tmp:/proc"}, "true"), 125, "/proc"},
		{"tmpfs-on-dev", run([]string{"--tmpfs", "/dev"}, "true"), 125, "/dev"},
		{"bad-reference", []string{"run", "--rm", "../../etc", "true"}, 125, `"../../etc": invalid reference format`},
		{"missing-image", []string{"run", "--rm", "no-such-image-here", "true"}, 125, "no-such-image-here: image not known"},
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n > 80 {
			cases = append(cases, struct {
				name string
				args []string
				code int
				want string
			}{"privileged-port", run([]string{"-p", "80:80"}, "true"), 126, "ip_unprivileged_port_start=80' to /etc/sysctl.conf (currently " + strconv.Itoa(n)})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rlessImg(t, root, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\n%s", r.code, c.code, r.stderr)
			}
			// Progress lines ("Trying to pull ...") may come first, as
			// podman's; the error is one line.
			var errs []string
			for _, l := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
				if strings.HasPrefix(l, "Error: ") || len(errs) > 0 {
					errs = append(errs, l)
				}
			}
			if len(errs) != 1 || !strings.Contains(errs[0], c.want) {
				t.Errorf("stderr %q: want one error line saying %q", r.stderr, c.want)
			}
		})
	}
	// Workdirs that are there, or under a mount, are fine.
	for _, w := range []string{"/etc", "/scratch/sub"} {
		if r := mustImg(t, root, run([]string{"--tmpfs", "/scratch", "-w", w}, "pwd")...); r.stdout != w+"\n" {
			t.Errorf("-w %s: pwd %q", w, r.stdout)
		}
	}
}
