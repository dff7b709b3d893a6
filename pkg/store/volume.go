package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rless/rless/internal/atomicfile"
	"github.com/rless/rless/internal/diskfault"
)

// Volume is a named volume: a directory of the store that containers
// mount and that outlives them.
type Volume struct {
	Name       string    `json:"Name"`
	Driver     string    `json:"Driver"`
	Mountpoint string    `json:"Mountpoint"` // the directory containers mount
	CreatedAt  time.Time `json:"CreatedAt"`
}

// ErrNoVolume is wrapped by lookups of unknown volumes.
var ErrNoVolume = errors.New("no such volume")

// ErrVolumeExists is wrapped by CreateVolume of a name taken.
var ErrVolumeExists = errors.New("volume already exists")

func (s *Store) volumeDir(name string) string { return filepath.Join(s.root, "volumes", name) }

// validVolumeName: a letter or digit, then letters, digits, _ . -
func validVolumeName(n string) bool {
	if n == "" || len(n) > 255 {
		return false
	}
	for i, r := range n {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("_.-", r)) {
			return false
		}
	}
	return true
}

// CreateVolume makes the volume name ("" picks a random name). It appears
// complete or not at all.
func (s *Store) CreateVolume(name string) (Volume, error) {
	if name == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		name = hex.EncodeToString(b)
	}
	if !validVolumeName(name) {
		return Volume{}, fmt.Errorf("volume name %q: use letters, digits, _ . and -, starting with a letter or digit", name)
	}
	vols := filepath.Join(s.root, "volumes")
	// A full (or read-only) filesystem is named as such: "no space left
	// on device: writing a volume into DIR".
	failed := func(err error) error {
		if f := diskfault.Check(err, "a volume", vols); f != nil {
			return f
		}
		return fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := os.MkdirAll(vols, 0o700); err != nil {
		return Volume{}, failed(err)
	}
	unlock, err := s.lock()
	if err != nil {
		return Volume{}, failed(err)
	}
	defer unlock()
	dir := s.volumeDir(name)
	if _, err := os.Stat(dir); err == nil {
		return Volume{}, fmt.Errorf("volume %s: %w", name, ErrVolumeExists)
	}
	v := Volume{Name: name, Driver: "local", Mountpoint: filepath.Join(dir, "_data"), CreatedAt: time.Now().UTC()}
	tmp, err := os.MkdirTemp(vols, ".tmp-")
	if err != nil {
		return Volume{}, failed(err)
	}
	data, _ := json.MarshalIndent(v, "", "  ")
	err = errors.Join(os.Mkdir(filepath.Join(tmp, "_data"), 0o755), atomicfile.Write(filepath.Join(tmp, "volume.json"), data, 0o600))
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		// Nothing of it is left: it appears complete or not at all.
		os.RemoveAll(tmp)
		return Volume{}, failed(err)
	}
	return v, nil
}

// Volume returns the volume name.
func (s *Store) Volume(name string) (Volume, error) {
	var v Volume
	data, err := os.ReadFile(filepath.Join(s.volumeDir(name), "volume.json"))
	if errors.Is(err, fs.ErrNotExist) || !validVolumeName(name) {
		return v, fmt.Errorf("%s: %w", name, ErrNoVolume)
	}
	if err != nil {
		return v, err
	}
	err = json.Unmarshal(data, &v)
	return v, err
}

// Volumes returns every volume, by name.
func (s *Store) Volumes() ([]Volume, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "volumes"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Volume
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if v, err := s.Volume(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b Volume) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// RemoveVolume removes the volume name and what it holds. Files of
// subordinate ids in it need the user namespace (see the package doc).
func (s *Store) RemoveVolume(name string) error {
	if _, err := s.Volume(name); err != nil {
		return err
	}
	return s.discard(s.volumeDir(name))
}
