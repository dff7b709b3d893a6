// Package overlay assembles a container's root filesystem from image
// layers with the kernel's overlayfs, mounted inside the container's user
// and mount namespaces with the userxattr option (Linux 5.11 and later):
// the whiteouts and opaque directories pkg/layer writes are what it reads.
//
// The layout travels in the container's OCI spec as annotations (see
// Layout.Annotate), so that the container's init mounts it in its own
// mount namespace, where it disappears with the container.
package overlay
