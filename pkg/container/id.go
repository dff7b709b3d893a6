package container

import "fmt"

// ValidateID checks a container id: letters, digits, '_', '.' and '-',
// starting with a letter or digit, at most 128 bytes.
func ValidateID(id string) error {
	ok := len(id) > 0 && len(id) <= 128
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return fmt.Errorf("invalid container id %q: want letters, digits, '_', '.' and '-', starting with a letter or digit, at most 128 bytes", id)
	}
	return nil
}
