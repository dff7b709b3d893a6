package logfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// rotate replaces the log file by a new one holding its newest entries,
// at most maxSize/2 bytes of them, and goes on writing there.
func (w *Writer) rotate() error {
	if err := w.flush(); err != nil {
		return err
	}
	cut, err := w.cutOffset()
	if err != nil {
		return fmt.Errorf("rotate log %s: %w", w.path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(w.path), "."+filepath.Base(w.path)+".rotate-*")
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	n, err := io.Copy(tmp, io.NewSectionReader(w.f, cut, w.size-cut))
	if err == nil {
		err = os.Rename(tmp.Name(), w.path)
	}
	if err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("rotate log %s: %w", w.path, err)
	}
	// The old file is gone from the directory, its entries are copied:
	// an error closing it loses nothing.
	_ = w.f.Close()
	w.f = tmp
	// flush gave the buffer back: the next entry takes one for tmp.
	w.size = n
	return nil
}

// cutOffset returns where the entries to keep start: at the first entry
// that begins at or after size - maxSize/2.
func (w *Writer) cutOffset() (int64, error) {
	from := w.size - w.maxSize/2
	if from <= 0 {
		return 0, nil
	}
	// Look for the newline that ends the entry before, from the byte
	// before from.
	buf := make([]byte, 4096)
	for off := from - 1; off < w.size; {
		n, err := w.f.ReadAt(buf[:min(int64(len(buf)), w.size-off)], off)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
		if n == 0 {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		off += int64(n)
	}
	return w.size, nil
}
