package container

import (
	"errors"
	"fmt"
)

// Exit statuses rless uses for its own failures, as podman does.
const (
	ExitRlessFailed = 125 // rless itself failed
	ExitCannotExec  = 126 // the command was found but cannot be executed
	ExitNotFound    = 127 // the command was not found
)

// Error is a failure to create or start a container. Code is the exit
// status a CLI should use: ExitRlessFailed, ExitCannotExec or ExitNotFound.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// failed wraps err as an rless failure (125) unless it already carries a code.
func failed(err error) error {
	var ce *Error
	if err == nil || errors.As(err, &ce) {
		return err
	}
	return &Error{Code: ExitRlessFailed, Err: err}
}

// ExitCodeOf returns the exit status for err: its Code when it is an
// *Error, else ExitRlessFailed.
func ExitCodeOf(err error) int {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ExitRlessFailed
}

func errorf(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}
