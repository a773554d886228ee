package store

import (
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrNotFound is returned by Get when the key has no value at the
	// read's revision, or its value has expired at the read's time.
	ErrNotFound = errors.New("store: not found")

	// ErrPreconditionFailed is returned, wrapped in a *[GuardError], in
	// the Result (and by Write) of a request one of whose guards failed.
	// Nothing of that request was applied.
	ErrPreconditionFailed = errors.New("store: precondition failed")

	// ErrCompacted is returned, wrapped in a *[CompactedError], by History
	// when the first revision asked for is older than the oldest the
	// history still holds.
	ErrCompacted = errors.New("store: revision compacted")

	// ErrNewerFormat is returned by Open when the database was written by
	// a newer version of the store, whose format this one cannot read.
	ErrNewerFormat = errors.New("store: database format is newer than this version supports")

	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("store: closed")

	// ErrInvalid is returned, wrapped with the op's index, in the Result
	// of a request the store cannot apply: an unknown op or guard kind, a
	// collection name outside 1..128 bytes, an empty key, an expiry that
	// is not after the request's Now, a guard revision of 0, or an expire
	// op without its mod revision and expiry. Such a request is refused
	// whole, deterministically (every member of a cluster refuses it).
	ErrInvalid = errors.New("store: invalid request")

	// ErrAlreadyApplied is the Err of the Result of a request that Apply
	// skipped because its AppliedIndex is not above the applied index
	// already recorded: it was applied before a crash, and replaying it
	// again would apply it twice.
	ErrAlreadyApplied = errors.New("store: already applied")

	// ErrCorruption is returned, wrapped in a *[CorruptionError], when a
	// value the store wrote (an envelope, a meta key, a history event, an
	// expiry index entry) does not decode. The store never serves it.
	ErrCorruption = errors.New("store: corruption")
)

// GuardError reports the failed guard of a request: the index of its op
// in Request.Ops and the key's entry as the guard saw it (nil when the
// key was absent or expired). It unwraps to [ErrPreconditionFailed].
type GuardError struct {
	Index   int
	Current *Entry
}

func (e *GuardError) Error() string {
	if e.Current == nil {
		return fmt.Sprintf("store: ops[%d]: precondition failed: the key is absent", e.Index)
	}
	return fmt.Sprintf("store: ops[%d]: precondition failed: the key is at revision %d", e.Index, e.Current.ModRevision)
}

// Unwrap returns ErrPreconditionFailed.
func (e *GuardError) Unwrap() error { return ErrPreconditionFailed }

// CompactedError reports the oldest revision the history still holds. It
// unwraps to [ErrCompacted].
type CompactedError struct {
	Oldest uint64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("store: revision compacted: the oldest kept is %d", e.Oldest)
}

// Unwrap returns ErrCompacted.
func (e *CompactedError) Unwrap() error { return ErrCompacted }

// CorruptionError names the damaged record: what it is ("envelope",
// "meta", "event", "expiry index") and its lsm key. It unwraps to
// [ErrCorruption] and to the cause.
type CorruptionError struct {
	What string
	Key  []byte
	Err  error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("store: corruption: %s at key %s: %v", e.What, quoteKey(e.Key), e.Err)
}

// Unwrap returns ErrCorruption and the cause.
func (e *CorruptionError) Unwrap() []error { return []error{ErrCorruption, e.Err} }

func corrupt(what string, key []byte, err error) error {
	return &CorruptionError{What: what, Key: append([]byte(nil), key...), Err: err}
}

// quoteKey quotes an lsm key for a message, cut to 64 bytes: keys are not
// secret, but may be long and binary.
func quoteKey(k []byte) string {
	if len(k) > 64 {
		return strconv.Quote(string(k[:64])) + "…"
	}
	return strconv.Quote(string(k))
}

func invalid(i int, format string, args ...any) error {
	return fmt.Errorf("%w: ops[%d]: %s", ErrInvalid, i, fmt.Sprintf(format, args...))
}
