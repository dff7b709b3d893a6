package container

import "fmt"

// MaxIDLength is the longest container id ValidateID accepts, in bytes.
const MaxIDLength = 128

// MaxNameLength is the longest container name ValidateName accepts, in
// bytes.
const MaxNameLength = 253

// ValidateID reports whether id may be a container id: it names the
// container's state directory, so it is one path component of letters,
// digits, '_', '.' and '-', starting with a letter or digit, at most
// MaxIDLength bytes. rless makes ids of 64 hexadecimal digits (NewID);
// engines pass ids of their own.
func ValidateID(id string) error {
	if err := validName(id, MaxIDLength); err != nil {
		return fmt.Errorf("container id %q: %w", id, err)
	}
	return nil
}

// ValidateName reports whether name may be a container name, by podman's
// rule: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most MaxNameLength bytes.
func ValidateName(name string) error {
	if err := validName(name, MaxNameLength); err != nil {
		return fmt.Errorf("container name %q: %w", name, err)
	}
	return nil
}

// validName checks s against [a-zA-Z0-9][a-zA-Z0-9_.-]* and a length of at
// most max bytes. The first character excludes "." and "..", the others
// path separators.
func validName(s string, max int) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > max {
		return fmt.Errorf("%d bytes long, more than %d", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		switch {
		case alnum:
		case i == 0:
			return fmt.Errorf("must begin with a letter or a digit")
		case c == '_' || c == '.' || c == '-':
		default:
			return fmt.Errorf("character %q not allowed (only letters, digits, '_', '.' and '-')", c)
		}
	}
	return nil
}
