package image

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"sync/atomic"

	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"
)

// splitRecorder passes a layer's tar stream through while tar-split
// records its metadata into a file.
type splitRecorder struct {
	io.ReadCloser
	done  <-chan error
	zw    *gzip.Writer
	f     *os.File
	abort *atomic.Bool
}

func newSplitRecorder(path string, r io.Reader) (*splitRecorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("record tar-split: %w", err)
	}
	zw := gzip.NewWriter(f)
	abort := new(atomic.Bool)
	rc, done, err := asm.NewInputTarStreamWithDone(r, storage.NewJSONPacker(zw), crcPutter{abort})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("record tar-split: %w", err)
	}
	return &splitRecorder{ReadCloser: rc, done: done, zw: zw, f: f, abort: abort}, nil
}

// finish stops tar-split (when the stream was not read to its end), waits
// for it and closes the file.
func (s *splitRecorder) finish() error {
	s.abort.Store(true)
	s.ReadCloser.Close()
	err := <-s.done
	return errors.Join(err, s.zw.Close(), s.f.Close())
}

// crcPutter checksums file contents for tar-split, as its discarding
// putter does, and stops when told to: tar-split reads a sparse file's
// holes without reading the stream, so a refused entry that claims a huge
// sparse size would keep it busy long after the unpacker gave up.
type crcPutter struct{ abort *atomic.Bool }

var errAborted = errors.New("aborted")

func (p crcPutter) Put(_ string, r io.Reader) (int64, []byte, error) {
	h := crc64.New(storage.CRCTable)
	buf := make([]byte, 32<<10)
	var n int64
	for {
		if p.abort.Load() {
			return n, nil, errAborted
		}
		m, err := r.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			return n, h.Sum(nil), nil
		}
		if err != nil {
			return n, nil, err
		}
	}
}

// rootGetter gives tar-split the content of regular files from an unpacked
// layer, resolving names inside it only (a layer's symlinks must not lead a
// save to files outside the layer).
type rootGetter struct{ root int }

func (g rootGetter) Get(name string) (io.ReadCloser, error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	fd, err := unix.Openat2(g.root, name, &how)
	if err != nil {
		return nil, fmt.Errorf("layer file %q: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// LayerStream returns the tar stream of a stored layer exactly as pulled,
// rebuilt from its files and its tar-split metadata. Like every read of
// layer files, it needs the user namespace for files of subordinate ids.
func LayerStream(diffDir, tarSplit string) (io.ReadCloser, error) {
	root, err := unix.Open(diffDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open layer %s: %w", diffDir, err)
	}
	f, err := os.Open(tarSplit)
	if err != nil {
		unix.Close(root)
		return nil, fmt.Errorf("layer metadata: %w", err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		unix.Close(root)
		f.Close()
		return nil, fmt.Errorf("layer metadata %s: %w", tarSplit, err)
	}
	pr, pw := io.Pipe()
	go func() {
		err := asm.WriteOutputTarStream(rootGetter{root}, storage.NewJSONUnpacker(zr), pw)
		unix.Close(root)
		f.Close()
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// tarHas reports whether the tar stream r has an entry name (or ./name).
func tarHas(r io.Reader, name string) bool {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			return false
		}
		if h.Name == name || h.Name == "./"+name {
			return true
		}
	}
}
