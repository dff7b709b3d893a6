package image

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"

	"github.com/rless/rless/pkg/store"
	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"
)

// VerifyLayer checks the files of a stored layer against the record
// tar-split made of its tar stream when it was unpacked: each regular file
// is present, with the size recorded and (unless quick) the content
// recorded, and the stream they give back has the layer's DiffID. It
// returns a problem per damaged file, naming it, or one for the layer.
// Like every read of layer files, it needs the user namespace of the
// store's owner.
func VerifyLayer(s *store.Store, diffID string, quick bool) []store.Problem {
	bad := func(path, format string, args ...any) store.Problem {
		return store.Problem{Kind: store.ProblemLayer, Layer: diffID, Path: path, Detail: fmt.Sprintf(format, args...)}
	}
	root, err := unix.Open(s.DiffDir(diffID), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return []store.Problem{bad("", "open its files: %v", err)}
	}
	defer unix.Close(root)
	f, err := os.Open(filepath.Join(s.LayerDir(diffID), store.TarSplitFile))
	if err != nil {
		return []store.Problem{bad("", "the record of its files: %v", err)}
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return []store.Problem{bad("", "the record of its files: %v", err)}
	}
	var ps []store.Problem
	stream := sha256.New()
	unpacker := storage.NewJSONUnpacker(zr)
	for {
		entry, err := unpacker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return append(ps, bad("", "the record of its files: %v", err))
		}
		switch entry.Type {
		case storage.SegmentType:
			stream.Write(entry.Payload)
		case storage.FileType:
			if entry.Size == 0 {
				continue
			}
			name := entry.GetName()
			if msg := verifyFile(root, name, entry, quick, stream); msg != "" {
				ps = append(ps, bad(name, "%s", msg))
			}
		}
	}
	if quick || len(ps) > 0 {
		return ps
	}
	if got := fmt.Sprintf("sha256:%x", stream.Sum(nil)); got != diffID {
		ps = append(ps, bad("", "its files and record give back a stream of digest %s", got))
	}
	return ps
}

// verifyFile checks one regular file of a layer against its entry, adding
// its content to stream unless quick; it returns what is wrong, or "".
func verifyFile(root int, name string, entry *storage.Entry, quick bool, stream hash.Hash) string {
	r, err := rootGetter{root}.Get(name)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "missing"
		}
		return err.Error()
	}
	f := r.(*os.File)
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return err.Error()
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("not a regular file (%s)", fi.Mode().Type())
	case fi.Size() != entry.Size:
		return fmt.Sprintf("%d bytes, recorded %d", fi.Size(), entry.Size)
	case quick:
		return ""
	}
	crc := crc64.New(storage.CRCTable)
	if _, err := io.CopyN(io.MultiWriter(crc, stream), f, entry.Size); err != nil {
		return fmt.Sprintf("read: %v", err)
	}
	if !bytes.Equal(crc.Sum(nil), entry.Payload) {
		return "its content differs from the layer's"
	}
	return ""
}
