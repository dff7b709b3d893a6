// Package reference parses and normalises image names the way podman and
// Docker do: "alpine" is docker.io/library/alpine:latest, "ghcr.io/a/b@sha256:…"
// names a manifest by digest.
//
// It is a small, allocation-light parser with no package-level state, so
// that programs on the container start path can name images without paying
// for the regular expressions of a full registry client. The rules are those
// of the distribution reference grammar; the tests check this package
// against containers/image's parser.
package reference

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultDomain is the registry of names without one.
const DefaultDomain = "docker.io"

// DefaultTag is the tag of names with neither tag nor digest.
const DefaultTag = "latest"

// maxNameLength is the longest repository name (domain and path) accepted.
const maxNameLength = 255

// Named is a parsed, normalised image reference.
type Named struct {
	Domain string // registry host[:port], e.g. docker.io
	Path   string // repository path, e.g. library/alpine
	Tag    string // tag, "" when none was given and a digest was
	Digest string // algorithm:hex, or ""
}

// Name returns domain/path, the repository (just the path for the rare
// names whose first component looks like, but is not, a registry).
func (n Named) Name() string {
	if n.Domain == "" {
		return n.Path
	}
	return n.Domain + "/" + n.Path
}

// String returns the full reference: domain/path[:tag][@digest].
func (n Named) String() string {
	s := n.Name()
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest
	}
	return s
}

// Familiar returns the short form a user types: docker.io/library/ and
// docker.io/ are dropped.
func (n Named) Familiar() string {
	s := n.String()
	if n.Domain == DefaultDomain {
		s = strings.TrimPrefix(s, DefaultDomain+"/")
		s = strings.TrimPrefix(s, "library/")
	}
	return s
}

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid reference format")

// Parse parses s and normalises it: a missing domain becomes docker.io, a
// one-component docker.io path gains library/, and a reference with neither
// tag nor digest gets the tag latest. It rejects upper case in the
// repository, bad components, tags and digests, with an error wrapping
// ErrInvalid.
func Parse(s string) (Named, error) {
	n, err := parse(s)
	if err != nil {
		return Named{}, err
	}
	if n.Tag == "" && n.Digest == "" {
		n.Tag = DefaultTag
	}
	return n, nil
}

// ParseName is Parse without the default tag: "alpine" is
// docker.io/library/alpine with no tag.
func ParseName(s string) (Named, error) { return parse(s) }

// IsShort reports whether s names no registry: "alpine" and "library/alpine"
// are short, "docker.io/alpine" and "localhost/x" are not. Short names are
// resolved through registries.conf when pulled.
func IsShort(s string) bool {
	i := strings.IndexByte(s, '/')
	return i < 0 || !isDomain(s[:i])
}

func parse(s string) (Named, error) {
	bad := func(why string) (Named, error) {
		return Named{}, fmt.Errorf("%w: %q: %s", ErrInvalid, s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if IsID(s) {
		return bad("a 64-character hexadecimal string is an image ID, not a name")
	}
	var n Named
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		n.Digest = rest[i+1:]
		rest = rest[:i]
		if err := checkDigest(n.Digest); err != nil {
			return bad(err.Error())
		}
	}
	// A tag follows the last colon after the last slash.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		n.Tag = rest[i+1:]
		rest = rest[:i]
		if !isTag(n.Tag) {
			return bad("bad tag")
		}
	}
	if rest == "" {
		return bad("no repository")
	}
	if len(rest) > maxNameLength {
		return bad("repository name longer than 255 characters")
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 && isDomain(rest[:i]) {
		n.Domain, n.Path = rest[:i], rest[i+1:]
		if !validDomain(n.Domain) {
			// Not a registry, but the whole may still be a path
			// ("a_b.c/d"): containers/image then names no registry.
			n.Domain, n.Path = "", rest
		}
	} else {
		n.Domain, n.Path = DefaultDomain, rest
	}
	if n.Domain == "index.docker.io" {
		n.Domain = DefaultDomain
	}
	if n.Path != strings.ToLower(n.Path) {
		return bad("repository name must be lowercase")
	}
	for c := range strings.SplitSeq(n.Path, "/") {
		if !isComponent(c) {
			return bad(fmt.Sprintf("bad path component %q", c))
		}
	}
	if n.Domain == DefaultDomain && !strings.Contains(n.Path, "/") {
		n.Path = "library/" + n.Path
	}
	// The limit holds for the normalised name, as in containers/image.
	if len(n.Name()) > maxNameLength {
		return bad("repository name longer than 255 characters")
	}
	return n, nil
}

// isDomain reports whether the first component of a name is a registry:
// it has a dot or a port, or is localhost.
func isDomain(c string) bool {
	return strings.ContainsAny(c, ".:") || c == "localhost"
}

// validDomain checks host[:port]: labels of letters, digits and inner
// hyphens separated by dots, and a numeric port. (IPv6 literals are not
// accepted, as in containers/image.)
func validDomain(d string) bool {
	host, port := d, ""
	if i := strings.LastIndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i+1:]
		if port == "" {
			return false
		}
	}
	if strings.Trim(port, "0123456789") != "" {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !isAlnum(r) && r != '-' {
				return false
			}
		}
	}
	return true
}

// isComponent checks a path component: [a-z0-9]+ separated by ".", "_",
// "__" or runs of "-".
func isComponent(c string) bool {
	if c == "" || !isLowerAlnum(rune(c[0])) || !isLowerAlnum(rune(c[len(c)-1])) {
		return false
	}
	for i := 0; i < len(c); i++ {
		if isLowerAlnum(rune(c[i])) {
			continue
		}
		switch c[i] {
		case '.':
			if !isLowerAlnum(rune(c[i+1])) {
				return false
			}
		case '_':
			if c[i+1] == '_' {
				i++
			}
			if !isLowerAlnum(rune(c[i+1])) {
				return false
			}
		case '-':
			for c[i+1] == '-' {
				i++
			}
			if !isLowerAlnum(rune(c[i+1])) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// isTag checks [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func isTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, r := range t {
		if !isAlnum(r) && r != '_' && r != '.' && r != '-' {
			return false
		}
	}
	return true
}

// checkDigest checks algorithm:hex, with the length known algorithms need.
func checkDigest(d string) error {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || alg == "" || hex == "" {
		return errors.New("bad digest")
	}
	want := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	if want == 0 {
		return fmt.Errorf("unsupported digest algorithm %q", alg)
	}
	if len(hex) != want || strings.Trim(hex, "0123456789abcdef") != "" {
		return errors.New("bad digest")
	}
	return nil
}

// IsID reports whether s is a full image ID: 64 lower-case hex digits.
func IsID(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

func isLowerAlnum(r rune) bool { return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' }

func isAlnum(r rune) bool { return isLowerAlnum(r) || r >= 'A' && r <= 'Z' }
