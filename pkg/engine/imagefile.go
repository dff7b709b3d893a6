package engine

import "time"

// The parts of an image's configuration and manifest that rless reads
// beyond ImageConfig, with the OCI image specification's JSON names,
// declared here for the reason given at store.ImageConfig: image-spec's v1
// package brings go-digest, whose package initialisation (compiling its
// regular expressions, 0.6 ms) would count in every start of rless.

// History is one step of an image's history (image-spec's v1.History).
type History struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

// imageFile is an OCI image configuration, the parts rless reads.
type imageFile struct {
	Created      *time.Time  `json:"created,omitempty"`
	Author       string      `json:"author,omitempty"`
	Architecture string      `json:"architecture"`
	OS           string      `json:"os"`
	Config       ImageConfig `json:"config,omitempty"`
	RootFS       struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []History `json:"history,omitempty"`
}

// manifestFile is an image manifest, the parts rless reads.
type manifestFile struct {
	MediaType   string            `json:"mediaType,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// mediaTypeImageManifest is the media type of an OCI image manifest.
const mediaTypeImageManifest = "application/vnd.oci.image.manifest.v1+json"
