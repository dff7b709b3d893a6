// Package testimage builds OCI images for rless's tests and benchmarks
// (from the host's busybox and generated layers), writes them as OCI
// layouts and pushes them to a registry with containers/image.
package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rless/rless/pkg/authfile"
	"github.com/rless/rless/pkg/image"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
)

// Entry is one file of a generated layer.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg (default), TypeDir, TypeSymlink, TypeLink
	Body     string
	Mode     int64 // default 0644 for files, 0755 for directories
	UID, GID int
	Link     string
}

// epoch is the modification time of generated entries.
var epoch = time.Unix(1700000000, 0)

// Tar returns a layer holding entries, in order.
func Tar(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Uid: e.UID, Gid: e.GID, Linkname: e.Link, ModTime: epoch, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.Body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// TarDir returns a layer of the tree at dir, every entry owned by root.
func TarDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.ModTime = epoch
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tw.Close()
	return buf.Bytes(), err
}

// Compression of a layer blob.
type Compression int

// Layer blob compressions.
const (
	Gzip Compression = iota
	Zstd
	None
)

// Layer is a layer to put into an image.
type Layer struct {
	Tar         []byte
	Compression Compression
}

// Image describes an image to write.
type Image struct {
	Layers []Layer
	Config v1.ImageConfig
	Arch   string // default runtime.GOARCH
	OS     string // default linux
}

// Layout is an OCI layout directory being written.
type Layout struct {
	Dir       string
	manifests []v1.Descriptor
}

// NewLayout starts an OCI layout at dir.
func NewLayout(dir string) (*Layout, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	return &Layout{Dir: dir}, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

func (l *Layout) blob(mediaType string, data []byte) (v1.Descriptor, error) {
	d := digest.FromBytes(data)
	err := os.WriteFile(filepath.Join(l.Dir, "blobs", "sha256", d.Encoded()), data, 0o644)
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, err
}

// Add writes img and returns its manifest's descriptor (not yet in the
// index: see Tag and TagList).
func (l *Layout) Add(img Image) (v1.Descriptor, error) {
	if img.Arch == "" {
		img.Arch = runtime.GOARCH
	}
	if img.OS == "" {
		img.OS = "linux"
	}
	cfg := v1.Image{
		Created:  &epoch,
		Platform: v1.Platform{Architecture: img.Arch, OS: img.OS},
		Config:   img.Config,
		RootFS:   v1.RootFS{Type: "layers"},
	}
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest}
	for _, layer := range img.Layers {
		sum := sha256.Sum256(layer.Tar)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.Digest("sha256:"+hex.EncodeToString(sum[:])))
		blob, mt, err := compress(layer)
		if err != nil {
			return v1.Descriptor{}, err
		}
		d, err := l.blob(mt, blob)
		if err != nil {
			return v1.Descriptor{}, err
		}
		m.Layers = append(m.Layers, d)
	}
	cb, _ := json.Marshal(cfg)
	cd, err := l.blob(v1.MediaTypeImageConfig, cb)
	if err != nil {
		return v1.Descriptor{}, err
	}
	m.Config = cd
	mb, _ := json.Marshal(m)
	md, err := l.blob(v1.MediaTypeImageManifest, mb)
	md.Platform = &cfg.Platform
	return md, err
}

func compress(l Layer) ([]byte, string, error) {
	var buf bytes.Buffer
	switch l.Compression {
	case Gzip:
		zw := gzip.NewWriter(&buf)
		zw.Write(l.Tar)
		err := zw.Close()
		return buf.Bytes(), v1.MediaTypeImageLayerGzip, err
	case Zstd:
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			return nil, "", err
		}
		zw.Write(l.Tar)
		err = zw.Close()
		return buf.Bytes(), v1.MediaTypeImageLayerZstd, err
	default:
		return l.Tar, v1.MediaTypeImageLayer, nil
	}
}

// Tag names the manifest d with tag in the layout's index.
func (l *Layout) Tag(d v1.Descriptor, tag string) error {
	d.Annotations = map[string]string{v1.AnnotationRefName: tag}
	l.manifests = append(l.manifests, d)
	ix := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: l.manifests}
	b, _ := json.Marshal(ix)
	return os.WriteFile(filepath.Join(l.Dir, "index.json"), b, 0o644)
}

// TagList writes an image index (manifest list) of ds and names it tag.
func (l *Layout) TagList(ds []v1.Descriptor, tag string) error {
	ix := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: ds}
	b, _ := json.Marshal(ix)
	d, err := l.blob(v1.MediaTypeImageIndex, b)
	if err != nil {
		return err
	}
	return l.Tag(d, tag)
}

// Copy copies the image tag of the layout to dest, a transport reference
// such as docker://127.0.0.1:5000/library/alpine:latest (plain HTTP
// allowed), with every instance of a manifest list.
func (l *Layout) Copy(ctx context.Context, tag, dest string) error {
	src, err := layout.ParseReference(l.Dir + ":" + tag)
	if err != nil {
		return err
	}
	return CopyRef(ctx, src, dest)
}

// CopyRef copies src to dest (a transport:reference string).
func CopyRef(ctx context.Context, src types.ImageReference, dest string) error {
	dst, _, err := image.ParseReference(dest)
	if err != nil {
		return fmt.Errorf("parse %s: %w", dest, err)
	}
	policy, _ := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	defer policy.Destroy()
	// The credentials file as rless finds it: not the default of
	// containers/image, which fails where /run/containers is root's.
	sys := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue, AuthFilePath: authfile.Find()}
	_, err = copy.Image(ctx, policy, dst, src, &copy.Options{
		SourceCtx: sys, DestinationCtx: sys, ImageListSelection: copy.CopyAllImages,
		PreserveDigests: strings.HasPrefix(dest, "docker://"),
	})
	return err
}
