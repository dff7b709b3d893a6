// Package overlay will assemble a container's root filesystem from image
// layers: native overlayfs in the user namespace, fuse-overlayfs, or a copy.
//
// Nothing is implemented here yet: today the root filesystem is a directory
// bound as it is (see package rootfs).
package overlay
