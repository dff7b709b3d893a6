package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/rless/rless/internal/diskfault"
	"github.com/rless/rless/pkg/layer"
	"github.com/rless/rless/pkg/store"
	_ "go.podman.io/image/v5/directory" // dir: transport
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/archive" // docker-archive: transport
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	_ "go.podman.io/image/v5/oci/archive" // oci-archive: transport
	_ "go.podman.io/image/v5/oci/layout"  // oci: transport
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/pkg/compression"
	"go.podman.io/image/v5/pkg/shortnames"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/transports"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage/pkg/configfile"
	"golang.org/x/sync/errgroup"
)

// PullOptions tune Pull.
type PullOptions struct {
	Options
	// Progress receives what Pull does; nil reports nothing.
	Progress Progress
	// Warn receives warnings (neutralised layer entries, ownership notes);
	// nil drops them.
	Warn func(string)
	// Jobs bounds the layers fetched at once; 0 means 6.
	Jobs int
	// Retry is how many times a pull from a registry that failed in a way
	// another try may mend (a network error, a stalled transfer, HTTP
	// 429, 500, 502, 503, 504) is tried again; nil means DefaultRetry (3),
	// as podman's --retry. Layers a failed try stored are kept for the
	// next one, and taken back if the last one fails too.
	Retry *uint
	// RetryDelay is the wait between tries; 0 means 2s, doubled at each
	// try, as podman's --retry-delay.
	RetryDelay time.Duration
	// IdleTimeout is how long a pull waits for a registry that sends
	// nothing (for a layer's next bytes, or for the manifest and config
	// together) before it gives up on that connection with a StallError;
	// 0 means $RLESS_PULL_IDLE_TIMEOUT if set, else DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Transports are the transport prefixes Pull and Load understand besides
// plain registry references.
var Transports = []string{"docker", "oci", "oci-archive", "docker-archive", "dir"}

// ParseReference parses name as transport:reference for the transports
// above, else as a registry reference (docker://name). The second result
// reports whether name was a plain, possibly short, registry name.
func ParseReference(name string) (types.ImageReference, bool, error) {
	if t, rest, ok := strings.Cut(name, ":"); ok {
		for _, known := range Transports {
			if t == known {
				tr := transports.Get(t)
				if tr == nil {
					return nil, false, fmt.Errorf("transport %s not available", t)
				}
				ref, err := tr.ParseReference(rest)
				if err != nil {
					return nil, false, fmt.Errorf("parse %s: %w", name, err)
				}
				return ref, false, nil
			}
		}
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, true, fmt.Errorf("parse %q: %w", name, err)
	}
	ref, err := docker.NewReference(reference.TagNameOnly(named))
	return ref, true, err
}

// Pull copies the image name into s and returns it as recorded. name is a
// registry reference, short names resolved through registries.conf
// ("alpine"), or transport:reference for oci:, oci-archive:,
// docker-archive: and dir:. Layers already in the store are not fetched.
func Pull(ctx context.Context, s *store.Store, name string, opts PullOptions) (store.Image, error) {
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	sys, err := opts.SystemContext()
	if err != nil {
		return store.Image{}, err
	}
	policy, err := policyContext(sys)
	if err != nil {
		return store.Image{}, err
	}
	defer policy.Destroy()
	_ = s.Clean()

	ref, plain, err := ParseReference(name)
	if err != nil || !plain {
		if err != nil {
			return store.Image{}, err
		}
		if ref.Transport().Name() == "docker-archive" && ref.DockerReference() == nil {
			if named, err := archiveRef(ctx, sys, ref); err == nil {
				ref = named
			}
		}
		return pullRef(ctx, s, ref, nameFor(ref), sys, policy, opts)
	}
	resolved, err := shortnames.Resolve(sys, name)
	if err != nil {
		return store.Image{}, err
	}
	var errs []error
	for _, c := range resolved.PullCandidates {
		ref, err := docker.NewReference(c.Value)
		if err != nil {
			return store.Image{}, err
		}
		opts.Progress.Trying(c.Value.String())
		img, err := pullRef(ctx, s, ref, c.Value.String(), sys, policy, opts)
		if err == nil {
			_ = c.Record()
			return img, nil
		}
		if ctx.Err() != nil || errors.As(err, new(*layer.EntryError)) {
			return store.Image{}, err
		}
		errs = append(errs, err)
	}
	return store.Image{}, resolved.FormatPullErrors(errs)
}

// nameFor is the name an image pulled from ref gets: its registry name,
// or localhost/<file name>:<tag> for layouts and archives without one.
func nameFor(ref types.ImageReference) string {
	if n := ref.DockerReference(); n != nil {
		return reference.TagNameOnly(n).String()
	}
	within := ref.StringWithinTransport()
	p, tag, _ := strings.Cut(within, ":")
	if tag == "" || strings.ContainsAny(tag, "/@") {
		tag = "latest"
	}
	base := strings.ToLower(strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)))
	if n, err := reference.ParseNormalizedNamed("localhost/" + base + ":" + tag); err == nil {
		return n.String()
	}
	return ""
}

// archiveRef returns the reference to the first image of a docker-archive
// named by its first tag, as podman names images it loads.
func archiveRef(ctx context.Context, sys *types.SystemContext, ref types.ImageReference) (types.ImageReference, error) {
	path, _, _ := strings.Cut(ref.StringWithinTransport(), ":")
	r, err := archive.NewReader(sys, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	refs, err := r.List()
	if err != nil {
		return nil, err
	}
	for _, img := range refs {
		for _, listed := range img {
			if tagged, ok := listed.DockerReference().(reference.NamedTagged); ok {
				return archive.NewReference(path, tagged)
			}
		}
	}
	return ref, nil
}

func policyContext(sys *types.SystemContext) (*signature.PolicyContext, error) {
	policy, err := signature.DefaultPolicy(sys)
	notFound := errors.Is(err, fs.ErrNotExist) || errors.Is(err, configfile.ErrConfigFileNotFound)
	if notFound && sys.SignaturePolicyPath == "" {
		// No policy.json at all: accept, as podman does.
		policy = &signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}}
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("signature policy: %w", err)
	}
	return signature.NewPolicyContext(policy)
}

// pullRef pulls ref, tried again as opts.Retry says. A failed pull takes
// back the layers it added: the store stays as it was. (A killed one
// leaves them, complete, for the next pull.)
func pullRef(ctx context.Context, s *store.Store, ref types.ImageReference, name string, sys *types.SystemContext, policy *signature.PolicyContext, opts PullOptions) (store.Image, error) {
	var img store.Image
	var added []string
	named := registryNamer(ref)
	err := withRetry(ctx, opts, named, func() (err error) {
		img, err = pullOnce(ctx, s, ref, name, sys, policy, opts, &added)
		return err
	})
	if err != nil {
		_ = s.RemoveUnusedLayers(added)
		return store.Image{}, named(err)
	}
	return img, nil
}

// pullOnce tries to pull ref once, and adds the DiffIDs of the layers it
// stored to added.
func pullOnce(ctx context.Context, s *store.Store, ref types.ImageReference, name string, sys *types.SystemContext, policy *signature.PolicyContext, opts PullOptions, added *[]string) (_ store.Image, err error) {
	// A registry gets the idle timeout for the manifest and config
	// together, fetchLayer for each read of a layer.
	meta := newIdleGuard(ctx, opts.idleTimeout(), "reading the manifest and config")
	defer meta.stop()
	if ref.Transport().Name() == "docker" {
		meta.arm()
		defer func() { err = meta.explain(err) }()
	}
	ctx = meta.ctx
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return store.Image{}, err
	}
	defer src.Close()
	top := image.UnparsedInstance(src, nil)
	if ok, err := policy.IsRunningImageAllowed(ctx, top); !ok || err != nil {
		if err == nil {
			err = errors.New("rejected by policy")
		}
		return store.Image{}, fmt.Errorf("%s: %w", transports.ImageName(ref), err)
	}
	topBlob, topType, err := top.Manifest(ctx)
	if err != nil {
		return store.Image{}, err
	}
	topDigest, err := manifest.Digest(topBlob)
	if err != nil {
		return store.Image{}, err
	}
	unparsed := top
	if manifest.MIMETypeIsMultiImage(topType) {
		list, err := manifest.ListFromBlob(topBlob, topType)
		if err != nil {
			return store.Image{}, fmt.Errorf("parse manifest list: %w", err)
		}
		d, err := list.ChooseInstance(sys)
		if err != nil {
			return store.Image{}, err
		}
		unparsed = image.UnparsedInstance(src, &d)
	}
	img, err := image.FromUnparsedImage(ctx, sys, unparsed)
	if err != nil {
		return store.Image{}, err
	}
	opts.Progress.Signatures()
	cfg, err := img.OCIConfig(ctx)
	if err != nil {
		return store.Image{}, fmt.Errorf("read image config: %w", err)
	}
	infos := img.LayerInfos()
	if len(infos) != len(cfg.RootFS.DiffIDs) {
		return store.Image{}, fmt.Errorf("image has %d layers but its config lists %d", len(infos), len(cfg.RootFS.DiffIDs))
	}
	configBlob, err := img.ConfigBlob(ctx)
	if err != nil {
		return store.Image{}, fmt.Errorf("read image config: %w", err)
	}
	mblob, _, err := img.Manifest(ctx)
	if err != nil {
		return store.Image{}, err
	}
	meta.disarm()

	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = 6
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	sizes := make([]int64, len(infos))
	fetched := make([]bool, len(infos))
	for i, info := range infos {
		diffID := cfg.RootFS.DiffIDs[i].String()
		g.Go(func() error {
			n, added, err := fetchLayer(gctx, s, src, info, diffID, opts)
			sizes[i], fetched[i] = n, added
			return err
		})
	}
	err = g.Wait()
	for i, a := range fetched {
		if a {
			*added = append(*added, cfg.RootFS.DiffIDs[i].String())
		}
	}
	if err != nil {
		return store.Image{}, err
	}
	configDigest := img.ConfigInfo().Digest
	opts.Progress.Config(configDigest.String())
	entry := store.Image{
		ID:     configDigest.Encoded(),
		Digest: topDigest.String(),
	}
	if name != "" {
		entry.Names = []string{name}
	}
	if cfg.Created != nil {
		entry.Created = *cfg.Created
	}
	for i, d := range cfg.RootFS.DiffIDs {
		entry.Layers = append(entry.Layers, d.String())
		entry.Size += sizes[i]
	}
	opts.Progress.Writing()
	if err := s.AddImage(entry, mblob, configBlob); err != nil {
		return store.Image{}, err
	}
	return s.Lookup(entry.ID)
}

// fetchLayer fetches, verifies and unpacks one layer unless the store has
// it, and returns its unpacked size and whether it added it.
func fetchLayer(ctx context.Context, s *store.Store, src types.ImageSource, info types.BlobInfo, diffID string, opts PullOptions) (int64, bool, error) {
	if _, err := digest.Parse(diffID); err != nil {
		return 0, false, fmt.Errorf("bad DiffID %q in image config", diffID)
	}
	w, err := s.NewLayer(diffID)
	if errors.Is(err, store.ErrLayerExists) {
		opts.Progress.Skipped(info.Digest.String())
		l, err := s.ReadLayer(diffID)
		return l.Size, false, err
	}
	if err != nil {
		return 0, false, err
	}
	// Each wait for the registry's next bytes gets the idle timeout.
	guard := newIdleGuard(ctx, opts.idleTimeout(), "")
	defer guard.stop()
	if src.Reference().Transport().Name() == "docker" {
		src = guardedSource{src, guard}
	}
	n, err := unpackBlob(guard.ctx, w, src, info, diffID, opts)
	if err = guard.explain(err); err != nil {
		w.Abort()
		return 0, false, fmt.Errorf("layer %s: %w", info.Digest, err)
	}
	err = w.Commit(store.Layer{DiffID: diffID, Digest: info.Digest.String(), MediaType: info.MediaType, Size: n, Added: time.Now().UTC()})
	return n, err == nil, err
}

func unpackBlob(ctx context.Context, w *store.LayerWriter, src types.ImageSource, info types.BlobInfo, diffID string, opts PullOptions) (int64, error) {
	rc, size, err := src.GetBlob(ctx, info, none.NoCache)
	if err != nil {
		return 0, fmt.Errorf("fetch: %w", err)
	}
	defer rc.Close()
	if size < 0 {
		size = info.Size
	}
	bar := opts.Progress.Blob(info.Digest.String(), size)
	if err := info.Digest.Validate(); err != nil {
		return 0, fmt.Errorf("blob digest: %w", err)
	}
	digester := info.Digest.Algorithm().Digester()
	verifier := digester.Hash()
	var fetched int64
	raw := io.TeeReader(&countReader{r: rc, n: &fetched, bar: bar}, verifier)
	plain, _, err := compression.AutoDecompress(raw)
	if err != nil {
		bar.Done(err)
		return 0, fmt.Errorf("decompress: %w", err)
	}
	defer plain.Close()
	diffHash := sha256.New()
	tee := io.TeeReader(plain, diffHash)
	warn := func(msg string) {
		if opts.Warn != nil {
			opts.Warn(fmt.Sprintf("layer %s: %s", info.Digest.Encoded()[:12], msg))
		}
	}
	// tar-split records the tar's headers and padding, so that save can
	// give back the very bytes of the layer from the unpacked files.
	split, err := newSplitRecorder(w.TarSplitPath(), tee)
	if err != nil {
		bar.Done(err)
		return 0, err
	}
	stats, err := layer.Unpack(ctx, w.Dir(), split, layer.Options{Warn: warn})
	if err == nil {
		// The DiffID covers the padding after the end-of-archive marker.
		if _, err = io.Copy(io.Discard, split); err != nil {
			err = fmt.Errorf("read layer: %w", err)
		}
	}
	if serr := split.finish(); err == nil && serr != nil {
		err = fmt.Errorf("record tar-split: %w", serr)
	}
	// The store's layers directory: the layer's own, temporary, is gone
	// by the time the error is read.
	if local := diskfault.Check(err, "a layer", filepath.Dir(filepath.Dir(w.Dir()))); local != nil {
		// The store's filesystem failed (full, over quota, read-only):
		// that is the cause, whatever the rest of the blob holds.
		bar.Done(local)
		return 0, local
	}
	// Read the blob to its end: a broken transfer or a wrong blob is the
	// cause to report, rather than what it did to the layer's content.
	_, rerr := io.Copy(io.Discard, raw)
	switch {
	case info.Size > 0 && fetched < info.Size:
		err = fmt.Errorf("blob truncated: %d of %d bytes arrived", fetched, info.Size)
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w (%v)", err, rerr)
		}
	case info.Size > 0 && fetched != info.Size:
		err = fmt.Errorf("blob is %d bytes, the manifest says %d", fetched, info.Size)
	case rerr == nil && digester.Digest() != info.Digest:
		err = fmt.Errorf("blob digest mismatch: got %s", digester.Digest())
	case err != nil:
	case rerr != nil:
		err = fmt.Errorf("fetch: %w", rerr)
	case "sha256:"+hex.EncodeToString(diffHash.Sum(nil)) != diffID:
		err = fmt.Errorf("uncompressed layer does not match the DiffID %s of the image config", diffID)
	}
	bar.Done(err)
	if err != nil {
		return 0, err
	}
	if stats.Unowned > 0 {
		warn(fmt.Sprintf("%d entries keep your ownership: their owners are not mapped (no subordinate id range for them)", stats.Unowned))
	}
	return stats.Bytes, nil
}

type countReader struct {
	r   io.Reader
	n   *int64
	bar BlobProgress
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	c.bar.Add(n)
	return n, err
}
