package test

// parityCases are the command lines of the differential suite (see
// TestParity); envFile is an --env-file holding FROM_FILE, SPACED and
// PASSED (a name only, taken from the environment).
func parityCases(envFile string) []parityCase {
	mounts := func(targets string) []string {
		return runArgs(nil, shc(`awk '$2 ~ /^(`+targets+`)$/ {print $2, $3, $4}' /proc/self/mounts | sort`)...)
	}
	return []parityCase{
		// Identity.
		{name: "id", args: runArgs(nil, "id")},
		{name: "id-uid-gid", args: runArgs([]string{"-u", "1000:1000"}, "id")},
		{name: "id-uid", args: runArgs([]string{"-u", "1000"}, "id")},
		{name: "id-named", args: runArgs([]string{"-u", "alice"}, "id")},
		{name: "id-named-group", args: runArgs([]string{"-u", "alice:root"}, "id")},
		{name: "id-nobody", args: runArgs([]string{"--user", "nobody"}, "id")},
		{name: "id-group-add", args: runArgs([]string{"--group-add", "staff", "-u", "1000"}, "id")},
		{name: "passwd-missing-uid", args: runArgs([]string{"-u", "4242"}, shc("id; grep 4242 /etc/passwd; echo $HOME")...)},
		{name: "passwd-named", args: runArgs([]string{"-u", "alice"}, shc("echo $HOME $USER; grep -c alice /etc/passwd")...)},
		{name: "unknown-user", args: runArgs([]string{"-u", "nosuchuser"}, "id"), gist: "nosuchuser"},
		{name: "umask", args: runArgs(nil, shc("umask")...)},
		{name: "umask-user", args: runArgs([]string{"-u", "1000"}, shc("umask; touch /tmp/f; stat -c %a /tmp/f")...)},

		// The environment.
		{name: "env", args: runArgs(nil, "env"), norm: sortLines, exception: "container-env", want: containerEnv},
		{name: "env-tty", args: runArgs([]string{"-t"}, "env"), norm: sortLines, exception: "container-env", want: containerEnv},
		{name: "env-user", args: runArgs([]string{"-u", "alice"}, "env"), norm: sortLines, exception: "container-env", want: containerEnv},
		{name: "env-e", args: runArgs([]string{"-e", "FOO=bar", "-e", "PASSED", "-e", "EMPTY="}, "env"), norm: sortLines, exception: "container-env", want: containerEnv},
		{name: "env-file", args: runArgs([]string{"--env-file", envFile}, "env"), norm: sortLines, exception: "container-env", want: containerEnv},
		{name: "env-path-override", args: runArgs([]string{"-e", "PATH=/bin"}, shc("echo $PATH")...)},
		{name: "env-bad-name", args: runArgs([]string{"-e", "=x"}, "true"), gist: "=x"},
		{name: "workdir", args: runArgs([]string{"-w", "/etc"}, "pwd")},
		{name: "workdir-made", args: runArgs([]string{"-w", "/new/dir"}, shc("pwd; stat -c '%a %u' /new/dir")...)},
		{name: "workdir-relative", args: runArgs([]string{"-w", "relative"}, "pwd"), gist: "relative"},
		{name: "entrypoint", args: []string{"run", "--rm", "--entrypoint", "echo", parityImage, "from", "entrypoint"}},
		{name: "entrypoint-sh", args: []string{"run", "--rm", "--entrypoint", "/bin/sh", parityImage, "-c", "echo $0"}},

		// The files rless writes.
		{name: "hostname", args: runArgs(nil, shc("hostname; cat /etc/hostname")...)},
		{name: "hostname-flag", args: runArgs([]string{"--hostname", "box"}, shc("hostname; cat /etc/hostname; grep -c box /etc/hosts")...)},
		{name: "hosts", args: runArgs(nil, "cat", "/etc/hosts"), norm: randomName, exception: "host-gateway", want: hostGateway(true)},
		{name: "hosts-named", args: runArgs([]string{"--name", "web"}, "cat", "/etc/hosts"), exception: "host-gateway", want: hostGateway(true)},
		{name: "hosts-add", args: runArgs([]string{"--add-host", "db:192.0.2.7"}, shc("grep -w db /etc/hosts")...)},
		{name: "resolv", args: runArgs(nil, "cat", "/etc/resolv.conf")},
		{name: "resolv-dns", args: runArgs([]string{"--dns", "192.0.2.53", "--dns-search", "example.org"}, "cat", "/etc/resolv.conf")},
		{name: "dns-bad", args: runArgs([]string{"--dns", "999.1.1.1"}, "true"), gist: "999.1.1.1"},
		{name: "dns-not-ip", args: runArgs([]string{"--dns", "not-an-ip"}, "true"), gist: "not-an-ip"},
		{name: "host-hostname", args: runArgs([]string{"--network", "host"}, shc("hostname; cat /etc/hostname")...)},
		{name: "host-hosts", args: runArgs([]string{"--network", "host"}, "cat", "/etc/hosts"), exception: "host-gateway", want: hostGateway(false)},
		{name: "host-resolv", args: runArgs([]string{"--network", "host"}, "cat", "/etc/resolv.conf")},
		{name: "none-hosts", args: runArgs([]string{"--network", "none"}, "cat", "/etc/hosts"), norm: randomName, exception: "host-gateway", want: hostGateway(false)},

		// Confinement.
		{name: "caps", args: runArgs(nil, shc("grep ^Cap /proc/self/status")...), exception: "default-caps", want: dropCaps},
		{name: "caps-user", args: runArgs([]string{"-u", "1000"}, shc("grep ^Cap /proc/self/status")...), exception: "default-caps", want: dropCaps},
		{name: "caps-drop-all", args: runArgs([]string{"--cap-drop", "all"}, shc("grep ^Cap /proc/self/status")...)},
		{name: "caps-add", args: runArgs([]string{"--cap-add", "net_admin,sys_ptrace"}, shc("grep ^CapEff /proc/self/status")...), exception: "default-caps", want: dropCaps},
		{name: "caps-privileged", args: runArgs([]string{"--privileged"}, shc("grep ^CapEff /proc/self/status")...)},
		{name: "nonewprivs-seccomp", args: runArgs(nil, shc("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status")...)},
		{name: "no-new-privileges", args: runArgs([]string{"--security-opt", "no-new-privileges"}, shc("grep ^NoNewPrivs /proc/self/status")...)},
		{name: "seccomp-unconfined", args: runArgs([]string{"--security-opt", "seccomp=unconfined"}, shc("grep ^Seccomp: /proc/self/status")...)},
		{name: "ulimit-soft", args: runArgs(nil, shc("ulimit -a")...), exception: "pids-limit", want: pidsLimit},
		{name: "ulimit-hard", args: runArgs(nil, shc("ulimit -Ha")...), exception: "pids-limit", want: pidsLimit},
		{name: "ulimit-nofile", args: runArgs(nil, shc("ulimit -Sn; ulimit -Hn")...)},
		{name: "ulimit-flag", args: runArgs([]string{"--ulimit", "nofile=512:1024"}, shc("ulimit -Sn; ulimit -Hn")...)},
		{name: "sysctl-ping", args: runArgs(nil, "cat", "/proc/sys/net/ipv4/ping_group_range")},
		{name: "dev", args: runArgs(nil, "ls", "/dev")},
		{name: "dev-modes", args: runArgs(nil, shc("stat -c '%n %a %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/ptmx /dev/shm")...)},
		{name: "mounts-proc-sys", args: mounts("/proc|/sys|/sys/fs/cgroup")},
		{name: "mounts-dev", args: mounts("/dev|/dev/pts|/dev/shm|/dev/mqueue")},
		{name: "mounts-root-rw", args: runArgs(nil, shc(`awk '$2 == "/" {split($4, o, ","); print o[1]}' /proc/self/mounts`)...)},
		{name: "masked", args: runArgs(nil, shc("for p in /proc/kcore /proc/keys /proc/timer_list /proc/acpi /proc/scsi /sys/firmware /sys/fs/selinux /sys/dev/block; do echo $p $(ls $p 2>&1 | wc -l) $(cat $p 2>/dev/null | wc -c); done")...)},
		{name: "readonly-paths", args: runArgs(nil, shc("for p in /proc/sys /proc/sysrq-trigger /proc/bus /proc/irq /proc/fs; do echo $p; touch $p/x 2>&1 | sed 's/.*: //'; done")...)},
		{name: "read-only", args: runArgs([]string{"--read-only"}, shc("touch /x 2>&1; echo $?; touch /tmp/x /var/tmp/x /run/x /dev/shm/x && echo tmpfs-writable")...)},
		{name: "read-only-mounts", args: []string{"run", "--rm", "--read-only", parityImage, "awk", `$2 ~ /^(\/|\/tmp|\/var\/tmp|\/run)$/ {split($4, o, ","); print $2, $3, o[1]}`, "/proc/self/mounts"}, norm: func(s string) string { return rootFS(sortLines(s)) }},

		// Exit statuses and errors.
		{name: "exit-code", args: runArgs(nil, shc("exit 3")...)},
		{name: "exit-signal", args: runArgs(nil, shc("kill -9 $$")...), exception: "init-pid1", code: initExit(9)},
		{name: "exit-term", args: runArgs(nil, shc("kill -TERM $$")...), exception: "init-pid1", code: initExit(15)},
		{name: "missing-command", args: runArgs(nil, "no-such-command"), gist: "no-such-command"},
		{name: "missing-path", args: runArgs(nil, "/no/such/file"), gist: "/no/such/file"},
		{name: "not-executable", args: runArgs(nil, "/etc/passwd"), gist: "permission denied"},
		{name: "directory-command", args: runArgs(nil, "/etc"), gist: "/etc"},
		{name: "bad-flag", args: []string{"run", "--no-such-flag", parityImage, "true"}, gist: "no-such-flag"},
		{name: "missing-image", args: []string{"run", "--rm", "no-such-image-here", "true"}, gist: "no-such-image-here"},
		{name: "bad-reference", args: []string{"run", "--rm", "../../etc", "true"}, gist: "invalid reference format"},
		{name: "mount-type", args: runArgs([]string{"--mount", "type=weird,dst=/x"}, "true"), gist: "weird"},
		{name: "mount-option", args: runArgs([]string{"--mount", "type=tmpfs,dst=/x,bogus=1"}, "true"), gist: "bogus"},
		{name: "volume-on-proc", args: runArgs([]string{"-v", "/tmp:/proc"}, "true"), gist: "/proc", exception: "early-refusal", code: func(int) int { return 125 }},
		{name: "privileged-port", args: runArgs([]string{"-p", "80:80"}, "true"), gist: "ip_unprivileged_port_start"},

		// Images.
		{name: "images", args: []string{"images"}, norm: imagesNorm},
		{name: "images-name", args: []string{"images", parityImage}, norm: imagesNorm},
		{name: "images-quiet", args: []string{"images", "-q"}},
		{name: "images-template", args: []string{"images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"}},
		{name: "images-table", args: []string{"images", "--format", "table {{.Repository}} {{.Tag}}"}},
		{name: "images-json-keys", args: []string{"images", "--format", "json"}, norm: jsonKeys},
		{name: "image-inspect-id", args: []string{"image", "inspect", "--format", "{{.Id}}", parityImage}},
		{name: "image-inspect-config", args: []string{"image", "inspect", "--format", "{{.Config.Cmd}} {{.Config.Env}} {{.Architecture}} {{.Os}}", parityImage}},
		{name: "image-inspect-missing-field", args: []string{"image", "inspect", "--format", "{{.NoSuchField}}", parityImage}, gist: "NoSuchField"},
		{name: "image-inspect-names", args: []string{"image", "inspect", "--format", "{{.RepoTags}} {{.Digest}}", parityImage}},
		{name: "version-osarch", args: []string{"version", "--format", "{{.Client.OsArch}}"}},
		{name: "system-df", args: []string{"system", "df", "--format", "{{.Type}} {{.Total}} {{.Active}} {{.Reclaimable}}"}},
	}
}
