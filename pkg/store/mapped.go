package store

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rless/rless/pkg/overlay"
)

// An image's layers hold owners as the user's default mapping has them. A
// container of another layout (podman's --userns=keep-id) would see them
// shifted, so it runs on a flattened copy of the image whose owners are
// remapped for its layout: made once per image and layout, kept in
// images/<id>/mapped/<key>, and removed with the image.

// MappedDir returns where the copy of image img for the layout named key
// is, and whether it is there.
func (s *Store) MappedDir(img Image, key string) (string, bool) {
	dir := filepath.Join(s.ImageDir(img.ID), "mapped", key)
	_, err := os.Stat(dir)
	return dir, err == nil
}

// MakeMapped makes the copy of image img for the layout named key, with
// owners passed through idmap, unless it is there; it returns its
// directory. It must run as root of a user namespace of the user's default
// mapping (the layers' owners are those of that mapping, and the copy's
// must be given). Concurrent makers of one copy wait for each other; a
// copy cut short by a killed maker is thrown away by the next.
func (s *Store) MakeMapped(img Image, key string, idmap overlay.IDMap) (string, error) {
	dir, ok := s.MappedDir(img, key)
	if ok {
		return dir, nil
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("image %s: mapped copy: %w", img.ShortID(), err)
	}
	unlock, err := flock(filepath.Join(parent, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, ok := s.MappedDir(img, key); ok {
		return dir, nil
	}
	tmp := filepath.Join(parent, ".tmp-"+key)
	if err := s.discard(tmp); err != nil {
		return "", err
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", fmt.Errorf("image %s: mapped copy: %w", img.ShortID(), err)
	}
	var lower []string
	for i := len(img.Layers) - 1; i >= 0; i-- {
		lower = append(lower, s.DiffDir(img.Layers[i]))
	}
	if len(lower) > 0 {
		err = overlay.Flatten(tmp, lower, idmap)
	}
	if err == nil {
		err = syncFS(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		_ = s.discard(tmp)
		return "", fmt.Errorf("image %s: mapped copy: %w", img.ShortID(), err)
	}
	return dir, nil
}
