package promtexttest

import (
	"errors"
	"strconv"
)

// ErrInvalid is returned (wrapped, via [errors.Is]) by [Check] when the
// exposition breaks a rule of the text format.
var ErrInvalid = errors.New("promtext: invalid exposition")

// LineError is one problem [Check] found. Check joins every LineError it
// finds with [errors.Join]; each one unwraps to [ErrInvalid]. A LineError is
// not modified after Check returns it, so it may be shared freely.
type LineError struct {
	Line int    // 1-based line number in the checked input
	Msg  string // what is wrong, lower case
}

// Error returns "line N: msg".
func (e *LineError) Error() string {
	return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Unwrap returns [ErrInvalid].
func (e *LineError) Unwrap() error { return ErrInvalid }
