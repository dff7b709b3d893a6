package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rless/rless/internal/diskfault"
	"github.com/rless/rless/pkg/store"
	"go.podman.io/image/v5/docker/archive"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	ociarchive "go.podman.io/image/v5/oci/archive"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"
)

// Archive formats of Save and Load.
const (
	DockerArchive = "docker-archive" // docker save's format; several images
	OCIArchive    = "oci-archive"    // a tar of an OCI layout; one image
)

// Save writes the images refs (names or IDs in s) to the file path, as a
// docker-archive (any number of images, each under one name) or an
// oci-archive (one). The file
// appears complete or not at all. Layers are given back byte for byte as
// pulled, so the images keep their IDs. Save reads layer files: run it in
// the user namespace of the store's owner.
func Save(ctx context.Context, s *store.Store, refs []string, format, path string) error {
	// Each image once, under the name it is first given by (the archive
	// writer records one name per image).
	var imgs []store.Image
	var names []string
	seen := map[string]bool{}
	for _, r := range refs {
		img, name, err := s.LookupName(r)
		if err != nil {
			return err
		}
		if seen[img.ID] {
			continue
		}
		seen[img.ID] = true
		if name == "" && len(img.Names) > 0 {
			name = img.Names[0]
		}
		imgs = append(imgs, img)
		names = append(names, name)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	sys := &types.SystemContext{}
	switch format {
	case DockerArchive:
		w, err := archive.NewWriter(sys, tmp.Name())
		if err != nil {
			return err
		}
		for i, img := range imgs {
			var tagged reference.NamedTagged
			if n, err := reference.ParseNormalizedNamed(names[i]); err == nil {
				tagged, _ = n.(reference.NamedTagged)
			}
			ref, err := w.NewReference(tagged)
			if err == nil {
				err = writeImage(ctx, s, img, ref, sys, manifest.DockerV2Schema2MediaType)
			}
			if err != nil {
				w.Close()
				return fmt.Errorf("save %s: %w", refs[i], err)
			}
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	case OCIArchive:
		if len(imgs) != 1 {
			return errors.New("an oci-archive holds one image: save the others to other files")
		}
		ref, err := ociarchive.NewReference(tmp.Name(), names[0])
		if err != nil {
			return err
		}
		if err := writeImage(ctx, s, imgs[0], ref, sys, imgspecv1.MediaTypeImageManifest); err != nil {
			return fmt.Errorf("save %s: %w", refs[0], err)
		}
	default:
		return fmt.Errorf("unknown archive format %q: use %s or %s", format, DockerArchive, OCIArchive)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// writeImage puts img's config, layers (uncompressed) and a manifest of
// mediaType into ref's destination.
func writeImage(ctx context.Context, s *store.Store, img store.Image, ref types.ImageReference, sys *types.SystemContext, mediaType string) error {
	dest, err := ref.NewImageDestination(ctx, sys)
	if err != nil {
		return err
	}
	defer dest.Close()
	config, err := s.ReadConfig(img.ID)
	if err != nil {
		return err
	}
	configDigest := digest.NewDigestFromEncoded(digest.SHA256, img.ID)
	if _, err := dest.PutBlob(ctx, bytes.NewReader(config), types.BlobInfo{Digest: configDigest, Size: int64(len(config))}, none.NoCache, true); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	var sizes []int64
	for _, l := range img.Layers {
		n, err := putLayer(ctx, s, dest, l)
		if err != nil {
			return err
		}
		sizes = append(sizes, n)
	}
	var m []byte
	if mediaType == manifest.DockerV2Schema2MediaType {
		var layers []manifest.Schema2Descriptor
		for i, l := range img.Layers {
			layers = append(layers, manifest.Schema2Descriptor{MediaType: manifest.DockerV2SchemaLayerMediaTypeUncompressed, Digest: digest.Digest(l), Size: sizes[i]})
		}
		m, err = manifest.Schema2FromComponents(manifest.Schema2Descriptor{
			MediaType: manifest.DockerV2Schema2ConfigMediaType, Digest: configDigest, Size: int64(len(config)),
		}, layers).Serialize()
	} else {
		var layers []imgspecv1.Descriptor
		for i, l := range img.Layers {
			layers = append(layers, imgspecv1.Descriptor{MediaType: imgspecv1.MediaTypeImageLayer, Digest: digest.Digest(l), Size: sizes[i]})
		}
		m, err = manifest.OCI1FromComponents(imgspecv1.Descriptor{
			MediaType: imgspecv1.MediaTypeImageConfig, Digest: configDigest, Size: int64(len(config)),
		}, layers).Serialize()
	}
	if err != nil {
		return err
	}
	if err := dest.PutManifest(ctx, m, nil); err != nil {
		return err
	}
	return dest.Commit(ctx, nil)
}

// putLayer writes one layer's tar stream, checking it against its DiffID.
func putLayer(ctx context.Context, s *store.Store, dest types.ImageDestination, diffID string) (int64, error) {
	stream, err := LayerStream(s.DiffDir(diffID), filepath.Join(s.LayerDir(diffID), store.TarSplitFile))
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	d := digest.Digest(diffID)
	digester := d.Algorithm().Digester()
	var n int64
	counted := io.TeeReader(stream, writerFunc(func(p []byte) (int, error) {
		n += int64(len(p))
		return digester.Hash().Write(p)
	}))
	if _, err := dest.PutBlob(ctx, counted, types.BlobInfo{Digest: d, Size: -1}, none.NoCache, false); err != nil {
		return 0, fmt.Errorf("write layer %s: %w", diffID, err)
	}
	if digester.Digest() != d {
		return 0, fmt.Errorf("layer %s: its files no longer give back the layer as pulled (got %s)", diffID, digester.Digest())
	}
	return n, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Load stores every image of the archive at path (a docker-archive or an
// oci-archive, told apart by their content) and returns them.
func Load(ctx context.Context, s *store.Store, path string, opts PullOptions) ([]store.Image, error) {
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	sys, err := opts.SystemContext()
	if err != nil {
		return nil, err
	}
	policy, err := policyContext(sys)
	if err != nil {
		return nil, err
	}
	defer policy.Destroy()
	_ = s.Clean()
	// An oci-archive is unpacked, a compressed docker-archive copied, into
	// podman's directory for big temporary files; a full one is named.
	sys.BigFilesTemporaryDir = bigFilesDir()
	tmpFault := func(err error) error { return diskfault.Check(err, "the archive's content", sys.BigFilesTemporaryDir) }
	if isOCIArchive(path) {
		ref, err := ociarchive.NewReference(path, "")
		if err != nil {
			return nil, err
		}
		name := nameFor(ref)
		// The name save gave it, as podman reads it back.
		d, err := ociarchive.LoadManifestDescriptorWithContext(sys, ref)
		if f := tmpFault(err); f != nil {
			return nil, f
		}
		if err == nil {
			if n, err := reference.ParseNormalizedNamed(d.Annotations[imgspecv1.AnnotationRefName]); err == nil {
				name = reference.TagNameOnly(n).String()
			}
		}
		img, err := pullRef(ctx, s, ref, name, sys, policy, opts)
		if err != nil {
			return nil, err
		}
		return []store.Image{img}, nil
	}
	r, err := archive.NewReader(sys, path)
	if f := tmpFault(err); f != nil {
		return nil, f
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer r.Close()
	list, err := r.List()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	var out []store.Image
	for _, refs := range list {
		ref, name := refs[0], ""
		if n := ref.DockerReference(); n != nil {
			name = reference.TagNameOnly(n).String()
		}
		img, err := pullRef(ctx, s, ref, name, sys, policy, opts)
		if err != nil {
			return out, err
		}
		for _, extra := range refs[1:] {
			if n := extra.DockerReference(); n != nil {
				if err := s.Tag(img.ID, reference.TagNameOnly(n).String()); err != nil {
					return out, err
				}
			}
		}
		img, _ = s.Lookup(img.ID)
		out = append(out, img)
	}
	return out, nil
}

// bigFilesDir returns where containers/image puts big temporary files
// (an archive's copy or unpacked content, while it is loaded): $TMPDIR,
// else /var/tmp, as podman's image_copy_tmp_dir.
func bigFilesDir() string {
	if d := os.Getenv("TMPDIR"); d != "" {
		return d
	}
	return "/var/tmp"
}

// isOCIArchive reports whether the tar at path holds an oci-layout file.
func isOCIArchive(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return tarHas(f, "oci-layout")
}
