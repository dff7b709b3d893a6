// Package layer unpacks image layers (tar streams) into directories safely
// and in the form overlayfs reads.
//
// Unpack treats every layer as hostile. Every path is resolved inside the
// layer directory with openat2(RESOLVE_IN_ROOT), so that no entry, symlink
// or hardlink can reach a file outside it, whatever symlinks earlier
// entries made. Entries that climb out with "..", whiteouts of such paths,
// hardlinks to missing files and oversized sparse files are refused;
// absolute paths, device nodes, duplicate entries and writes through
// symlinked directories are neutralised with a warning naming the entry.
//
// Whiteouts are converted for overlayfs as mounted in a user namespace
// (userxattr): ".wh.NAME" becomes a 0/0 character device NAME and
// ".wh..wh..opq" the xattr user.overlay.opaque=y on its directory.
//
// Owners are applied as in the layer, which inside a user namespace with a
// subordinate range maps uid N of the image to the N-th subordinate id on
// the host. Ids the namespace does not map are counted in Stats.Unowned and
// left to the caller.
package layer
