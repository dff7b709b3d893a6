package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/rless/rless/pkg/spec"
)

// LoadSpec reads the config.json of bundle directory bundle, with its root
// path made absolute (a relative one is taken from the bundle).
func LoadSpec(bundle string) (*specs.Spec, error) {
	f, err := os.Open(filepath.Join(bundle, "config.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("bundle %s: no config.json", bundle)
		}
		return nil, err
	}
	defer f.Close()
	var s specs.Spec
	if err := json.NewDecoder(f).Decode(&s); err != nil {
		return nil, fmt.Errorf("bundle %s: config.json: %w", bundle, err)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("bundle %s: config.json has no root.path", bundle)
	}
	if !filepath.IsAbs(s.Root.Path) {
		s.Root.Path = filepath.Join(bundle, s.Root.Path)
	}
	if _, err := os.Stat(s.Root.Path); err != nil {
		return nil, fmt.Errorf("bundle %s: root: %w", bundle, err)
	}
	if s.Linux == nil {
		return nil, fmt.Errorf("bundle %s: config.json has no linux section", bundle)
	}
	addDefaultDevices(s.Linux)
	return &s, nil
}

// addDefaultDevices adds the devices the runtime spec says every container
// has (/dev/null, zero, full, random, urandom, tty) where l does not list
// them.
func addDefaultDevices(l *specs.Linux) {
	for _, d := range spec.Devices() {
		if !slices.ContainsFunc(l.Devices, func(x specs.LinuxDevice) bool { return x.Path == d.Path }) {
			l.Devices = append(l.Devices, d)
		}
	}
}
