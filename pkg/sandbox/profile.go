package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/rless/rless/pkg/network"
)

// ProfileFile is where a project keeps its sandbox profile, relative to
// the project directory.
const ProfileFile = ".rless/sandbox.toml"

// Network modes of a sandbox.
const (
	NetworkAllowlist = "allowlist" // only the Allow entries (the default)
	NetworkNone      = "none"      // no network
	NetworkFull      = "full"      // the built-in network, unrestricted
)

// Profile is a sandbox's settings, as the flags of `rless sandbox` and a
// profile file (TOML, keys as the tags below) give them. The zero value is
// the default sandbox of the current directory.
type Profile struct {
	// Project is the directory shared read-write ("": the current one).
	Project string `toml:"-"`
	// Image, if set, is the image whose root replaces the host's.
	Image string `toml:"image"`
	// Command is what runs ([] : the user's shell).
	Command []string `toml:"command"`
	// Network is NetworkAllowlist ("" too), NetworkNone or NetworkFull.
	Network string `toml:"network"`
	// Allow lists where the allowlist network connects: HOST[:PORT], HOST
	// a name ("*.example.com" for its subdomains), an IP or a CIDR.
	Allow []string `toml:"allow"`
	// Resolver lists DNS servers (IP[:PORT]) the sandbox's queries go to
	// instead of the host's (those of its resolv.conf).
	Resolver []string `toml:"resolver"`
	// RO and RW are more host paths shared read-only and read-write.
	RO []string `toml:"ro"`
	RW []string `toml:"rw"`
	// AllowWrite lists protected paths of the project (see Protected),
	// relative to it, that stay writable.
	AllowWrite []string `toml:"allow_write"`
	// Env sets NAME=VALUE variables; PassEnv names host variables to pass.
	Env     []string `toml:"env"`
	PassEnv []string `toml:"pass_env"`
	// Cache keeps package caches in named volumes: npm, pip, cargo, go, or
	// NAME:PATH (PATH in the sandbox, "~/" for its home).
	Cache []string `toml:"cache"`
	// Ephemeral gives the sandbox a home that goes when it ends.
	Ephemeral bool `toml:"ephemeral"`
	// SSHAgent shares the host's ssh-agent socket ($SSH_AUTH_SOCK),
	// Display the X11 and Wayland sockets, GPU /dev/dri.
	SSHAgent bool `toml:"ssh_agent"`
	Display  bool `toml:"display"`
	GPU      bool `toml:"gpu"`
	// Log is the file refused network attempts are appended to ("": the
	// sandbox's directory in the store, refused.log).
	Log string `toml:"log"`
	// KeepRunning runs the command in the project's kept sandbox, started
	// when it does not run yet, which outlives the command: what the
	// command leaves in the background (a server) goes on until Stop.
	KeepRunning bool `toml:"keep_running"`
}

// ProfileError is a bad profile file: the file, the line and the key.
type ProfileError struct {
	File string
	Line int // 0 when unknown
	Key  string
	Err  error
}

func (e *ProfileError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %v", loc, e.Err)
	}
	return fmt.Sprintf("%s: key %q: %v", loc, e.Key, e.Err)
}

func (e *ProfileError) Unwrap() error { return e.Err }

// LoadProfile reads the profile file path. An unknown key, a value of the
// wrong type or a bad value is a *ProfileError naming the file, the line
// and the key.
func LoadProfile(path string) (Profile, error) {
	var p Profile
	data, err := os.ReadFile(path)
	if err != nil {
		return p, fmt.Errorf("sandbox profile: %w", err)
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&p)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return p, &ProfileError{File: path, Line: pe.Position.Line, Key: pe.LastKey, Err: errors.New(pe.Message)}
		}
		// Type mismatches: "toml: line N (last key "K"): message".
		if m := typeErr().FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return p, &ProfileError{File: path, Line: line, Key: m[2], Err: errors.New(m[3])}
		}
		return p, &ProfileError{File: path, Err: err}
	}
	if un := md.Undecoded(); len(un) > 0 {
		k := un[0].String()
		return p, &ProfileError{File: path, Line: keyLine(data, k), Key: k, Err: errors.New("unknown key (known: " + strings.Join(profileKeys(), ", ") + ")")}
	}
	if key, err := p.check(); err != nil {
		return p, &ProfileError{File: path, Line: keyLine(data, key), Key: key, Err: err}
	}
	return p, nil
}

// profileKeys lists the keys a profile file may hold.
func profileKeys() []string {
	return []string{"allow", "allow_write", "cache", "command", "display", "env", "ephemeral", "gpu", "image", "keep_running", "log", "network", "pass_env", "resolver", "ro", "rw", "ssh_agent"}
}

// keyLine returns the line that defines key (dotted for tables) in a
// TOML document, or 0.
func keyLine(data []byte, key string) int {
	table, name := "", key
	if i := strings.LastIndex(key, "."); i >= 0 {
		table, name = key[:i], key[i+1:]
	}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			t := strings.Trim(line, "[] \t")
			if cur = t; t == key {
				return n
			}
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if ok && cur == table && strings.Trim(strings.TrimSpace(k), `"'`) == name {
			return n
		}
	}
	return 0
}

// typeErr matches the errors of toml.Decode about a value of the wrong
// type (compiled on first use: package initialisation counts in every
// call of rless).
var typeErr = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)
})

// envName matches an environment variable's name.
var envName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// Check checks p's values, as LoadProfile does those of a file.
func (p Profile) Check() error {
	if key, err := p.check(); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// check returns the key of the first bad value and why.
func (p Profile) check() (string, error) {
	switch p.Network {
	case "", NetworkAllowlist, NetworkNone, NetworkFull:
	default:
		return "network", fmt.Errorf("%q: want allowlist, none or full", p.Network)
	}
	if len(p.Allow) > 0 {
		if p.Network == NetworkNone || p.Network == NetworkFull {
			return "allow", fmt.Errorf("entries are for the allowlist network, not %s", p.Network)
		}
		if err := (&network.Egress{Allow: p.Allow}).Validate(); err != nil {
			return "allow", err
		}
	}
	for _, r := range p.Resolver {
		if _, err := network.ParseOptions("resolver=" + r); err != nil || strings.Contains(r, ",") {
			return "resolver", fmt.Errorf("%q: want IP or IP:PORT", r)
		}
	}
	if len(p.Resolver) > 0 && p.Network == NetworkNone {
		return "resolver", errors.New("there is no DNS with network none")
	}
	for _, kv := range p.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || !envName().MatchString(k) {
			return "env", fmt.Errorf("%q: want NAME=VALUE", kv)
		}
	}
	for _, k := range p.PassEnv {
		if !envName().MatchString(k) {
			return "pass_env", fmt.Errorf("%q: not a variable name", k)
		}
	}
	for _, c := range p.Cache {
		if _, err := parseCache(c); err != nil {
			return "cache", err
		}
	}
	for _, w := range p.AllowWrite {
		if filepath.IsAbs(w) || slices.Contains(strings.Split(filepath.Clean(w), "/"), "..") {
			return "allow_write", fmt.Errorf("%q: want a path relative to the project, inside it", w)
		}
	}
	if p.KeepRunning && p.Ephemeral {
		return "ephemeral", errors.New("a kept sandbox keeps its home: not with keep_running")
	}
	for key, paths := range map[string][]string{"ro": p.RO, "rw": p.RW} {
		for _, s := range paths {
			if s == "" {
				return key, errors.New("an empty path")
			}
		}
	}
	return "", nil
}

// Merge returns p with o laid over it: o's lists added to p's, o's
// non-zero scalars replacing p's (flags over a profile file).
func (p Profile) Merge(o Profile) Profile {
	if o.Project != "" {
		p.Project = o.Project
	}
	if o.Image != "" {
		p.Image = o.Image
	}
	if len(o.Command) > 0 {
		p.Command = o.Command
	}
	if o.Network != "" {
		p.Network = o.Network
	}
	if o.Log != "" {
		p.Log = o.Log
	}
	p.Allow = append(slices.Clone(p.Allow), o.Allow...)
	p.Resolver = append(slices.Clone(p.Resolver), o.Resolver...)
	p.RO = append(slices.Clone(p.RO), o.RO...)
	p.RW = append(slices.Clone(p.RW), o.RW...)
	p.AllowWrite = append(slices.Clone(p.AllowWrite), o.AllowWrite...)
	p.Env = append(slices.Clone(p.Env), o.Env...)
	p.PassEnv = append(slices.Clone(p.PassEnv), o.PassEnv...)
	p.Cache = append(slices.Clone(p.Cache), o.Cache...)
	p.Ephemeral = p.Ephemeral || o.Ephemeral
	p.SSHAgent = p.SSHAgent || o.SSHAgent
	p.Display = p.Display || o.Display
	p.GPU = p.GPU || o.GPU
	p.KeepRunning = p.KeepRunning || o.KeepRunning
	return p
}

// Encode writes p as a profile file.
func (p Profile) Encode() ([]byte, error) {
	if p.Network == "" {
		p.Network = NetworkAllowlist
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
