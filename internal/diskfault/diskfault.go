// Package diskfault names the failures of the filesystem rless writes to
// (a full disk, a quota, a read-only mount) as such, in one wording for
// every place rless writes: a pull's or a load's layers, a container's
// storage, a volume.
package diskfault

import (
	"errors"
	"fmt"
	"syscall"
)

// Errors are the errors of a filesystem that end whatever rless was
// writing, whatever else went wrong meanwhile.
var Errors = []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS}

// Fault is a filesystem's failure met writing What into Dir: its message
// is "no space left on device: writing a layer into DIR".
type Fault struct {
	Err  error  // one of Errors
	What string // what was being written ("a layer")
	Dir  string // where
}

func (f *Fault) Error() string { return fmt.Sprintf("%v: writing %s into %s", f.Err, f.What, f.Dir) }

// Unwrap returns the errno, so that errors.Is(err, syscall.ENOSPC) holds.
func (f *Fault) Unwrap() error { return f.Err }

// Is reports whether err is (or wraps) one of Errors.
func Is(err error) bool {
	for _, e := range Errors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Check returns err as a *Fault, met writing what into dir, when it is
// (or wraps) one of Errors, else nil. An err that already holds a Fault
// gives that one, which names the place more closely.
func Check(err error, what, dir string) error {
	if err == nil {
		return nil
	}
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	for _, e := range Errors {
		if errors.Is(err, e) {
			return &Fault{Err: e, What: what, Dir: dir}
		}
	}
	return nil
}

// Wrap is Check that gives err back unchanged when it is no Fault.
func Wrap(err error, what, dir string) error {
	if f := Check(err, what, dir); f != nil {
		return f
	}
	return err
}
