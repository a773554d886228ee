package lsm

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned by Get when the key has no value (it was
	// never written or was deleted) at the read's point in time.
	ErrNotFound = errors.New("lsm: not found")

	// ErrClosed is returned by every call on a DB, Snapshot or Iterator
	// after its Close.
	ErrClosed = errors.New("lsm: closed")

	// ErrCorruption is returned, wrapped in a *CorruptionError, when a
	// checksum or structural check fails in any file. The DB never serves
	// data it could not verify.
	ErrCorruption = errors.New("lsm: corruption")

	// ErrWritesStopped is returned by every write after a write-ahead log
	// write or fsync failed, or a background flush or compaction failed.
	// After a failed fsync the kernel may have dropped the dirty pages, so
	// a retry could report success for lost data ("fsyncgate"); the only
	// safe recovery is to reopen the DB, which replays the log. The error
	// also wraps the original cause, so errors.Is(err, syscall.ENOSPC)
	// tells a full disk apart.
	ErrWritesStopped = errors.New("lsm: writes stopped after a storage failure; reopen the database")

	// ErrBatchTooLarge is returned by Apply for a batch of 4 GiB or more.
	ErrBatchTooLarge = errors.New("lsm: batch too large")
)

// CorruptionError describes a failed check: the file, the byte offset in
// it, and the underlying problem. It unwraps to ErrCorruption and to Err.
type CorruptionError struct {
	File   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("lsm: corruption in %s at offset %d: %v", e.File, e.Offset, e.Err)
}

// Unwrap returns ErrCorruption and the underlying error.
func (e *CorruptionError) Unwrap() []error { return []error{ErrCorruption, e.Err} }
