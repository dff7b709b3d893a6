// Package image will hold references, registries, pulling, the content-
// addressed image and layer store, and secure layer unpacking, on
// containers/image (go.podman.io/image/v5).
//
// Nothing is implemented here yet: until it is, rless runs root filesystem
// directories only (rless run --rootfs).
package image
