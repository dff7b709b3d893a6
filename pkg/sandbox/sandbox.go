package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/engine"
	"github.com/rless/rless/pkg/network"
	"golang.org/x/sys/unix"
)

// Sandbox is a sandbox ready to run: the container configuration a
// Profile gives, and what the sandbox made on the host for it.
type Sandbox struct {
	// Config is the container's configuration. A caller sets its
	// streams (Stdin, Stdout, Stderr, Terminal, ProxySignals) before Run.
	Config engine.Config
	// Project is the project directory, Dir the sandbox's directory in
	// the store (its home, unless ephemeral), Log the refusal log
	// ("" without the allowlist network).
	Project, Dir, Log string
	// Notes say, one line each, what the sandbox cannot do on this host.
	Notes []string
	// Kept is the name of the project's kept sandbox (see KeptName) when
	// the profile keeps it running: Config is then that container's
	// (idle, detached) and the command runs in it with Exec.
	Kept string

	e       *engine.Engine
	command []string // the command, for a kept sandbox
	lock    *os.File
	logSize int64
	tmpHome string
}

// projectDir returns the absolute, symlink-free project directory p
// names ("": the current one).
func projectDir(p string) (string, error) {
	project := p
	if project == "" {
		var err error
		if project, err = os.Getwd(); err != nil {
			return "", err
		}
	}
	project, err := filepath.Abs(project)
	if err != nil {
		return "", err
	}
	if project, err = filepath.EvalSymlinks(project); err != nil {
		return "", fmt.Errorf("project: %w", err)
	}
	if fi, err := os.Stat(project); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("project %s is not a directory", project)
	}
	if project == "/" {
		return "", errors.New("project /: give a project directory, not the root")
	}
	return project, nil
}

// sandboxDir returns the directory in e's store of the sandboxes of
// project (their home, lock and refusal log).
func sandboxDir(e *engine.Engine, project string) string {
	sum := sha256.Sum256([]byte(project))
	return filepath.Join(e.Root(), "sandbox", filepath.Base(project)+"-"+hex.EncodeToString(sum[:6]))
}

// New prepares the sandbox p describes for engine e: it checks p, makes
// the sandbox's directory (and the project's missing protected paths),
// and builds its container configuration. Close undoes what New made
// on the host; Run calls it.
func New(e *engine.Engine, p Profile) (_ *Sandbox, err error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	project, err := projectDir(p.Project)
	if err != nil {
		return nil, err
	}
	me, err := hostUser()
	if err != nil {
		return nil, err
	}
	if project == me.HomeDir {
		return nil, fmt.Errorf("project %s is your home directory: give a project directory inside it", project)
	}
	s := &Sandbox{Project: project, Dir: sandboxDir(e, project), e: e}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(s.Dir, "home"), 0o700); err != nil {
		return nil, fmt.Errorf("sandbox directory: %w", err)
	}
	// Shared by the sandboxes of the project while they run: the last
	// one removes the protected paths they made.
	if s.lock, err = openLock(s.Dir); err != nil {
		return nil, err
	}

	host, _, err := e.Host()
	if err != nil {
		return nil, err
	}
	cfg := engine.Config{
		Rootfs: "/", Image: p.Image, ReadOnly: true, Workdir: project,
		Labels: map[string]string{LabelProject: project},
		Remove: true,
	}
	if p.Image != "" {
		cfg.Rootfs = ""
	}
	cfg.Command = p.Command
	if len(cfg.Command) == 0 {
		cfg.Command = []string{me.Shell}
	}
	if h, err := os.Hostname(); err == nil {
		cfg.Hostname = h
	}
	switch {
	case p.Image == "":
		// The host's files: only the user's own ids are needed.
		cfg.KeepID = &engine.KeepID{UID: -1, GID: -1, Only: true}
	case len(host.SubUIDs) > 0 && len(host.SubGIDs) > 0 && host.NewUIDMap != "" && host.NewGIDMap != "":
		cfg.KeepID = &engine.KeepID{UID: -1, GID: -1}
	default:
		s.Notes = append(s.Notes, "no subordinate id range (or no newuidmap): in the image, the tools run as its root, which is you on the host")
	}

	env := environ(os.Environ(), p)
	env = setEnv(env, "HOME", me.HomeDir)
	env = setEnv(env, "USER", me.Username)
	if !hasEnv(env, "PATH") {
		env = setEnv(env, "PATH", "/usr/local/bin:/usr/bin:/bin")
	}

	// Files, in mount order: private directories first, then what is
	// shared over them, the project and its protected paths last.
	var mounts []specs.Mount
	private := []string{"/home", "/mnt", "/media"}
	if p.Image == "" {
		private = append(private, "/tmp", "/var/tmp", "/run")
	}
	for _, d := range private {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() || p.Image != "" && d == "/home" {
			mode := "755"
			if d == "/tmp" || d == "/var/tmp" {
				mode = "1777"
			}
			mounts = append(mounts, tmpfs(d, mode))
		}
	}
	home := filepath.Join(s.Dir, "home")
	if p.Ephemeral {
		if err := os.MkdirAll(e.RunRoot(), 0o700); err != nil {
			return nil, fmt.Errorf("sandbox home: %w", err)
		}
		if s.tmpHome, err = os.MkdirTemp(e.RunRoot(), ".sandbox-home-"); err != nil {
			return nil, fmt.Errorf("sandbox home: %w", err)
		}
		home = s.tmpHome
	}
	mounts = append(mounts, bind(home, me.HomeDir, false))
	for _, rel := range []string{".gitconfig"} {
		if src := filepath.Join(me.HomeDir, rel); exists(src) {
			mounts = append(mounts, roBind(src))
		}
	}
	volumes := map[string]bool{}
	for _, c := range p.Cache {
		cms, _ := parseCache(c) // checked
		for _, cm := range cms {
			dst := cm.path
			if !filepath.IsAbs(dst) {
				dst = filepath.Join(me.HomeDir, dst)
			}
			if volumes[dst] {
				continue
			}
			volumes[dst] = true
			mounts = append(mounts, specs.Mount{Destination: dst, Type: "volume", Source: cm.volume, Options: []string{"rw"}})
		}
	}
	if p.SSHAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" || !exists(sock) {
			return nil, errors.New("--ssh-agent: no agent socket ($SSH_AUTH_SOCK is not set or gone)")
		}
		mounts = append(mounts, bind(sock, sock, false))
		env = setEnv(env, "SSH_AUTH_SOCK", sock)
	}
	if p.Display {
		var any bool
		if d := os.Getenv("DISPLAY"); d != "" && exists("/tmp/.X11-unix") {
			mounts = append(mounts, bind("/tmp/.X11-unix", "/tmp/.X11-unix", true))
			env = setEnv(env, "DISPLAY", d)
			if xa := os.Getenv("XAUTHORITY"); xa != "" && exists(xa) {
				mounts = append(mounts, roBind(xa))
				env = setEnv(env, "XAUTHORITY", xa)
			}
			any = true
		}
		if w, rt := os.Getenv("WAYLAND_DISPLAY"), os.Getenv("XDG_RUNTIME_DIR"); w != "" && rt != "" {
			sock := w
			if !filepath.IsAbs(sock) {
				sock = filepath.Join(rt, w)
			}
			if exists(sock) {
				mounts = append(mounts, bind(sock, sock, false))
				env = setEnv(env, "WAYLAND_DISPLAY", sock)
				any = true
			}
		}
		if !any {
			return nil, errors.New("--display: no X11 ($DISPLAY, /tmp/.X11-unix) or Wayland ($WAYLAND_DISPLAY) display to share")
		}
	}
	if p.GPU {
		if !exists("/dev/dri") {
			return nil, errors.New("--gpu: this host has no /dev/dri")
		}
		mounts = append(mounts, bind("/dev/dri", "/dev/dri", false))
	}
	for _, sp := range []struct {
		paths []string
		ro    bool
	}{{p.RO, true}, {p.RW, false}} {
		for _, path := range sp.paths {
			src, err := hostPath(path, me.HomeDir)
			if err != nil {
				return nil, err
			}
			mounts = append(mounts, bind(src, src, sp.ro))
		}
	}
	mounts = append(mounts, bind(project, project, false))
	guarded, guards, err := protect(project, p.AllowWrite)
	if err != nil {
		return nil, err
	}
	if err := recordMade(s.Dir, guards); err != nil {
		unguard(guards)
		return nil, err
	}
	cfg.Mounts = append(mounts, guarded...)
	cfg.Env = env

	slirp := "slirp"
	if len(p.Resolver) > 0 {
		slirp += ":resolver=" + strings.Join(p.Resolver, ",resolver=")
	}
	switch p.Network {
	case NetworkNone:
		cfg.Network = "none"
	case NetworkFull:
		cfg.Network = slirp
	default:
		cfg.Network = slirp
		s.Log = p.Log
		if s.Log == "" {
			s.Log = filepath.Join(s.Dir, "refused.log")
		}
		if s.Log, err = filepath.Abs(s.Log); err != nil {
			return nil, err
		}
		if fi, err := os.Stat(s.Log); err == nil {
			s.logSize = fi.Size()
		}
		cfg.Egress = &network.Egress{Allow: p.Allow, Log: s.Log}
	}
	if cfg.Network != "none" && !network.TunUsable() {
		return nil, fmt.Errorf("--network %s needs /dev/net/tun, which this host does not open to you: use --network none", orDefault(p.Network))
	}
	if p.KeepRunning {
		digest, err := settingsDigest(p, project)
		if err != nil {
			return nil, err
		}
		s.Kept, s.command = KeptName(s.Dir), cfg.Command
		cfg.Name, cfg.Detach, cfg.Idle, cfg.Remove, cfg.Command = s.Kept, true, true, false, nil
		cfg.Labels[LabelSettings] = digest
	}
	s.Config = cfg
	return s, nil
}

func orDefault(n string) string {
	if n == "" {
		return NetworkAllowlist
	}
	return n
}

// Run runs the sandbox's command to its end and returns its exit status
// (see engine.Engine.Run), then undoes what New made (Close). A kept
// sandbox's command runs in it (Start) and the sandbox goes on.
func (s *Sandbox) Run(ctx context.Context) (int, error) {
	defer s.Close()
	if s.Kept != "" {
		proc, err := s.Exec(ctx)
		if err != nil {
			return -1, err
		}
		return proc.Wait()
	}
	return s.e.Run(ctx, s.Config)
}

// Refused returns how many network attempts the sandbox's allow-list
// refused since New (0 without the allowlist network).
func (s *Sandbox) Refused() int {
	if s.Log == "" {
		return 0
	}
	f, err := os.Open(s.Log)
	if err != nil {
		return 0
	}
	defer f.Close()
	if _, err := f.Seek(s.logSize, io.SeekStart); err != nil {
		return 0
	}
	data, _ := io.ReadAll(f)
	return bytes.Count(data, []byte("\n"))
}

// Close removes what New made on the host for this run: the protected
// paths sandboxes of the project made (when no other sandbox of the
// project runs, a kept one included) and an ephemeral home. It may be
// called more than once.
func (s *Sandbox) Close() error {
	if s.lock != nil {
		if unix.Flock(int(s.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && !s.keptRunning() {
			removeMade(s.Dir, s.Project)
		}
		s.lock.Close()
		s.lock = nil
	}
	if s.tmpHome != "" {
		err := os.RemoveAll(s.tmpHome)
		s.tmpHome = ""
		return err
	}
	return nil
}

// hostUser returns the calling user, its home from $HOME when set and
// its shell from $SHELL when set.
func hostUser() (*userInfo, error) {
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("who you are: %w", err)
	}
	me := &userInfo{Username: u.Username, HomeDir: u.HomeDir, Shell: "/bin/sh"}
	if h := os.Getenv("HOME"); filepath.IsAbs(h) && h != "/" {
		me.HomeDir = filepath.Clean(h)
	}
	if sh := os.Getenv("SHELL"); filepath.IsAbs(sh) {
		me.Shell = sh
	} else if sh := loginShell(u.Username); sh != "" {
		me.Shell = sh
	}
	return me, nil
}

type userInfo struct{ Username, HomeDir, Shell string }

// loginShell returns name's shell in /etc/passwd, or "".
func loginShell(name string) string {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == name && filepath.IsAbs(f[6]) {
			return f[6]
		}
	}
	return ""
}

// hostPath returns the absolute, existing host path p ("~/" for home).
func hostPath(p, home string) (string, error) {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		p = filepath.Join(home, rest)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("share %s: %w", p, err)
	}
	return abs, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
