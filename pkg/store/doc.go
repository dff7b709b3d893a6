// Package store is rless's content-addressed image store: unpacked layers
// keyed by DiffID and shared by every image that has them, image manifests
// and configs keyed by image ID, and an index of names.
//
// Layout below the root ($XDG_DATA_HOME/rless by default):
//
//	store.lock                 flock held while the index changes
//	images.json                the index: every image, its names and layers
//	images/<id>/manifest.json  the manifest as pulled
//	images/<id>/config.json    the image configuration (id is its sha256)
//	layers/<diffid>/diff/      the unpacked layer, in overlayfs's form
//	layers/<diffid>/layer.json what is known of the layer
//	layers/<diffid>.lock       flock held while the layer is unpacked
//	layers/.tmp-<diffid>/      a layer being unpacked
//	containers/<id>/           a container's writable layer and root,
//	                           with owner.pid, the pid of its rless
//	containers/.tmp-<pid>-<id> a container's storage being made
//	volumes/<name>/            a named volume
//	trash/                     entries being removed
//
// Everything appears complete or not at all: a layer is unpacked into a
// temporary directory and renamed into place, image files are written and
// renamed, and the index is replaced atomically under the store lock. A
// process killed at any moment leaves temporary entries that the next
// writer removes (see Clean), never a half-written layer or index.
//
// The package reads and writes files only; it never fetches. Layers hold
// files of subordinate ids, so removing them (Remove, Clean) must run in
// the user namespace of the store's owner (see userns.Unshare), as root
// there. Reading the index works anywhere.
package store
