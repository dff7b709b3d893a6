// Package image moves images between registries (and image archives and
// layouts) and the rless store, on containers/image
// (go.podman.io/image/v5): references and short names through
// registries.conf, credentials from auth.json, signature policy from
// policy.json, manifest lists, Docker v2s2 and OCI manifests, gzip and zstd.
//
// Pull fetches the layers the store lacks in parallel and unpacks each as
// it streams (pkg/layer), verifying the blob digest and the DiffID before
// the layer enters the store. Unpacking happens in the calling process:
// call Pull inside the user namespace of the store's owner (as the rless
// command does through userns.Unshare) so that the owners of an image's
// files map to the user's subordinate ids.
//
// This package links the whole of containers/image; programs on the
// container start path use pkg/store and pkg/reference instead, which
// read the store without it.
package image
