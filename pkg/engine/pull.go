package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rless/rless/pkg/authfile"
	"github.com/rless/rless/pkg/reexec"
)

// PullOptions tune Pull.
type PullOptions struct {
	// Platform picks OS/ARCH[/VARIANT] from a manifest list; OS, Arch and
	// Variant override its parts. Empty: this machine's.
	Platform          string `json:",omitzero"`
	OS, Arch, Variant string `json:",omitzero"`
	// AuthFile is the credentials file ("": the first of podman's that
	// exists and can be read, see authfile.Find); Creds are
	// USER[:PASSWORD] to use instead.
	AuthFile, Creds string `json:",omitzero"`
	// TLSVerify, if not nil, requires HTTPS and verified certificates
	// (false also allows plain HTTP); nil: registries.conf decides.
	TLSVerify *bool `json:",omitzero"`
	// SignaturePolicy is the signature policy file ("": policy.json's
	// search path).
	SignaturePolicy string `json:",omitzero"`
	// Retry is how many times a pull that failed in a way another try
	// may mend (a network error, a stalled transfer, HTTP 429 or 5xx) is
	// tried again; nil: 3, as podman's --retry. RetryDelay is the wait
	// between tries; 0: 2s, doubled at each try (podman's --retry-delay).
	Retry      *uint         `json:",omitzero"`
	RetryDelay time.Duration `json:",omitzero"`
	// IdleTimeout is how long a pull waits for a registry that sends
	// nothing before it gives up on the connection; 0:
	// $RLESS_PULL_IDLE_TIMEOUT if set, else 30s.
	IdleTimeout time.Duration `json:",omitzero"`
	// Display writes podman's progress for a person to stderr (bars on
	// a terminal, lines otherwise) when set.
	Display bool `json:",omitzero"`
	// Progress, if not nil, receives the pull's steps.
	Progress func(PullEvent) `json:"-"`
}

// PullEvent is one step of a pull.
type PullEvent struct {
	// Kind: "trying" (a registry candidate, Name), "blob" (a layer is
	// fetched: Digest, Size), "blob-done" (Digest, Err), "skipped" (a
	// layer already present: Digest), "config" (Digest), "writing" (the
	// image enters the store), "warning" (Message).
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
	Digest  string `json:"digest,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Err     string `json:"err,omitempty"`
	Message string `json:"message,omitempty"`
}

// pullArgs are the arguments of the pull function.
type pullArgs struct {
	Root    string
	Ref     string
	Options PullOptions
	// Save and Load: the other image functions of the engine program.
	Archive string
	Format  string
	Refs    []string
}

// Pull pulls ref (a registry reference, short names resolved through
// registries.conf, or transport:reference for oci:, oci-archive:,
// docker-archive: and dir:) into the store and returns the image. Layers
// already present are not fetched again. It runs in the user's namespace,
// where the layers' files get their owners.
func (e *Engine) Pull(ctx context.Context, ref string, opts PullOptions) (Image, error) {
	host, mapping, err := e.Host()
	if err != nil {
		return Image{}, err
	}
	ro := reexec.Options{Host: host, Mapping: mapping, Env: append(os.Environ(), reexec.RootlessEnv()...)}
	if progress := opts.Progress; progress != nil {
		ro.Events = func(raw json.RawMessage) {
			var ev PullEvent
			if json.Unmarshal(raw, &ev) == nil {
				progress(ev)
			}
		}
	}
	opts.Progress = nil
	if opts.AuthFile == "" && opts.Creds == "" {
		// Found here, as the user: in the pull's user namespace the
		// default would be uid 0's /run/containers/0/auth.json.
		opts.AuthFile = authfile.Find()
	}
	id, err := pullFunc.Run(ctx, ro, pullArgs{Root: e.root, Ref: ref, Options: opts})
	if err != nil {
		return Image{}, err
	}
	return e.Image(id)
}

// SaveImages writes the images refs names to the archive path, in format
// "docker-archive" (several images) or "oci-archive" (one).
func (e *Engine) SaveImages(ctx context.Context, refs []string, format, path string) error {
	host, mapping, err := e.Host()
	if err != nil {
		return err
	}
	_, err = saveFunc.Run(ctx, reexec.Options{Host: host, Mapping: mapping, Env: append(os.Environ(), reexec.RootlessEnv()...)},
		pullArgs{Root: e.root, Refs: refs, Format: format, Archive: path})
	return err
}

// LoadImages loads the images of a docker-archive or oci-archive into the
// store and returns them.
func (e *Engine) LoadImages(ctx context.Context, path string, opts PullOptions) ([]Image, error) {
	host, mapping, err := e.Host()
	if err != nil {
		return nil, err
	}
	ro := reexec.Options{Host: host, Mapping: mapping, Env: append(os.Environ(), reexec.RootlessEnv()...)}
	ids, err := loadFunc.Run(ctx, ro, pullArgs{Root: e.root, Archive: path, Options: opts})
	var out []Image
	for _, id := range ids {
		if img, lerr := e.Image(id); lerr == nil {
			out = append(out, img)
		}
	}
	return out, err
}

// PullPolicy says when Create pulls its image.
type PullPolicy string

// Pull policies, as podman's --pull.
const (
	PullMissing PullPolicy = "missing" // when the store lacks it (the default)
	PullAlways  PullPolicy = "always"  // always (present layers are not fetched again)
	PullNewer   PullPolicy = "newer"   // as always
	PullNever   PullPolicy = "never"   // never: a missing image is an error
)

// ParsePullPolicy parses a pull policy.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch p := PullPolicy(s); p {
	case PullMissing, PullAlways, PullNewer, PullNever:
		return p, nil
	case "":
		return PullMissing, nil
	}
	return "", fmt.Errorf("pull policy %q: want missing, always, newer or never", s)
}

// findImage returns the image ref names, pulling it as policy says.
func (e *Engine) findImage(ctx context.Context, ref string, policy PullPolicy, opts PullOptions) (Image, error) {
	img, err := e.Image(ref)
	switch policy {
	case PullMissing, "":
		if err == nil || !errors.Is(err, ErrImageNotFound) {
			return img, err
		}
	case PullNever:
		return img, err
	case PullAlways, PullNewer:
	default:
		return img, fmt.Errorf("pull policy %q: want missing, always, newer or never", policy)
	}
	var tried []string // the registry candidates
	progress := opts.Progress
	opts.Progress = func(ev PullEvent) {
		if ev.Kind == "trying" {
			tried = append(tried, ev.Name)
		}
		if progress != nil {
			progress(ev)
		}
	}
	img, err = e.Pull(ctx, ref, opts)
	if err != nil {
		return img, pullError(ref, tried, err)
	}
	return img, nil
}

// notFoundReplies are what registries answer, in the errors of
// containers/image, for an image they do not have.
var notFoundReplies = []string{"manifest unknown", "name unknown", "requested access to the resource is denied"}

// pullError is the error of a pull that run or create needed: for an
// image no registry has, one line that names ref and the candidates tried
// and wraps ErrImageNotFound, without the answer of every mirror (logged
// at the debug level); any other error as it is.
func pullError(ref string, tried []string, err error) error {
	msg := err.Error()
	found := ""
	for _, r := range notFoundReplies {
		if strings.Contains(msg, r) {
			found = r
			break
		}
	}
	if found == "" || errors.Is(err, context.Canceled) {
		return err
	}
	slog.Debug("pull failed", "image", ref, "error", msg)
	where := ref
	if len(tried) > 0 {
		where = strings.Join(tried, ", ")
	}
	return &wrapped{msg: fmt.Sprintf("%s: %v (%s: %s)", ref, ErrImageNotFound, where, found), err: ErrImageNotFound}
}

// lookPath finds program in PATH (a path is taken as it is).
func lookPath(program string) (string, error) {
	if strings.Contains(program, "/") {
		return program, nil
	}
	return exec.LookPath(program)
}

// LoginOptions say how to log in to a registry or out of it.
type LoginOptions struct {
	// AuthFile is the credentials file ("": the first of podman's that
	// exists and can be read, else where a login makes one; see
	// package authfile).
	AuthFile string
	// TLSVerify, if not nil, requires HTTPS and verified certificates.
	TLSVerify *bool
}

// loginArgs are the arguments of the login functions.
type loginArgs struct {
	Registry, User, Password string
	Options                  LoginOptions
	All                      bool
}

// ErrNotLoggedIn is returned (wrapped) by Logout and LoginName for a
// registry without stored credentials.
var ErrNotLoggedIn = errors.New("not logged in")

// Login checks user and password with registry and stores them.
func (e *Engine) Login(ctx context.Context, registry, user, password string, opts LoginOptions) error {
	_, err := loginFunc.Run(ctx, reexec.Options{}, loginArgs{Registry: registry, User: user, Password: password, Options: opts.withAuthFile()})
	return err
}

// LoginName returns the user name stored for registry.
func (e *Engine) LoginName(ctx context.Context, registry string, opts LoginOptions) (string, error) {
	name, err := loginNameFunc.Run(ctx, reexec.Options{}, loginArgs{Registry: registry, Options: opts.withAuthFile()})
	if err == nil && name == "" {
		err = fmt.Errorf("not logged into %s: %w", registry, ErrNotLoggedIn)
	}
	return name, err
}

// Logout removes the credentials stored for registry (all: for every
// registry).
func (e *Engine) Logout(ctx context.Context, registry string, all bool, opts LoginOptions) error {
	_, err := logoutFunc.Run(ctx, reexec.Options{}, loginArgs{Registry: registry, All: all, Options: opts.withAuthFile()})
	var re *reexec.Error
	if errors.As(err, &re) && strings.HasPrefix(re.Msg, "not logged into") {
		return &wrapped{msg: re.Msg, err: ErrNotLoggedIn}
	}
	return err
}

// withAuthFile is o with its AuthFile found, when not given.
func (o LoginOptions) withAuthFile() LoginOptions {
	if o.AuthFile == "" {
		o.AuthFile = authfile.Find()
	}
	return o
}

// RegistryHost returns the registry part of a login argument: without
// scheme and trailing slash.
func RegistryHost(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://"), "/")
}
