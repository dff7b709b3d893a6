package engine

import (
	"encoding/json"
	"fmt"
	"time"
)

// ImageInspect is what `rless image inspect` prints of an image, with
// podman's field names (its ImageData) for what rless records.
type ImageInspect struct {
	ID           string            `json:"Id"`
	Digest       string            `json:"Digest"`
	RepoTags     []string          `json:"RepoTags"`
	RepoDigests  []string          `json:"RepoDigests"`
	Parent       string            `json:"Parent"`
	Comment      string            `json:"Comment"`
	Created      *time.Time        `json:"Created,omitempty"`
	Config       *ImageConfig      `json:"Config"`
	Version      string            `json:"Version"`
	Author       string            `json:"Author"`
	Architecture string            `json:"Architecture"`
	Os           string            `json:"Os"`
	Size         int64             `json:"Size"`
	VirtualSize  int64             `json:"VirtualSize"`
	GraphDriver  GraphDriver       `json:"GraphDriver"`
	RootFS       ImageRootFS       `json:"RootFS"`
	Labels       map[string]string `json:"Labels"`
	Annotations  map[string]string `json:"Annotations"`
	ManifestType string            `json:"ManifestType"`
	User         string            `json:"User"`
	History      []History         `json:"History"`
	NamesHistory []string          `json:"NamesHistory"`
}

// GraphDriver names the storage driver of an image.
type GraphDriver struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// ImageRootFS lists an image's layers by DiffID.
type ImageRootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// InspectImage returns what the store and the image's configuration and
// manifest tell of the image ref names.
func (e *Engine) InspectImage(ref string) (*ImageInspect, error) {
	img, err := e.Image(ref)
	if err != nil {
		return nil, err
	}
	m, c, err := e.ImageFiles(img.ID)
	if err != nil {
		return nil, err
	}
	var cfg imageFile
	if err := json.Unmarshal(c, &cfg); err != nil {
		return nil, fmt.Errorf("image %s: its configuration: %w", img.ShortID(), err)
	}
	var man manifestFile
	if err := json.Unmarshal(m, &man); err != nil {
		return nil, fmt.Errorf("image %s: its manifest: %w", img.ShortID(), err)
	}
	s, err := e.openStore()
	if err != nil {
		return nil, err
	}
	size, err := newImageSizer(s).imageSize(img)
	if err != nil {
		return nil, err
	}
	driver := StorageOverlay
	if e.driver == StorageVFS {
		driver = StorageVFS
	}
	ii := &ImageInspect{
		ID: img.ID, Digest: img.Digest, RepoTags: img.Names, RepoDigests: repoDigests(img),
		Created: cfg.Created, Config: &cfg.Config, Author: cfg.Author,
		Architecture: cfg.Architecture, Os: cfg.OS, Size: size, VirtualSize: size,
		GraphDriver: GraphDriver{Name: driver, Data: map[string]string{}},
		RootFS:      ImageRootFS{Type: "layers", Layers: []string{}},
		Labels:      cfg.Config.Labels, Annotations: man.Annotations,
		ManifestType: man.MediaType, User: cfg.Config.User, History: cfg.History,
		NamesHistory: namesHistory(img),
	}
	ii.RootFS.Layers = append(ii.RootFS.Layers, cfg.RootFS.DiffIDs...)
	if ii.RepoTags == nil {
		ii.RepoTags = []string{}
	}
	if ii.ManifestType == "" {
		ii.ManifestType = mediaTypeImageManifest
	}
	return ii, nil
}
