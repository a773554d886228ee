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

	// ErrLocked is returned, wrapped in a *LockedError, by Open and Check
	// when another process (or another DB in this one) holds the lock of
	// the database folder or of its log folder.
	ErrLocked = errors.New("lsm: folder in use")

	// ErrFormat is returned by Open and Check for a manifest written in a
	// format this release does not know: by a newer release.
	ErrFormat = errors.New("lsm: unsupported on-disk format")
)

// CorruptionError describes a failed check: the file, the byte offset in
// it (-1 when the problem is the file as a whole: missing, of the wrong
// size, or not the file the manifest recorded), and the underlying
// problem. It unwraps to ErrCorruption and to Err.
//
// Open returns one (or several, joined) for every damage it refuses to
// open with; the way out is to restore the database from a backup, and
// [Check] lists all the damage of a stopped database.
type CorruptionError struct {
	File   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("lsm: corruption: %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("lsm: corruption in %s at offset %d: %v", e.File, e.Offset, e.Err)
}

// Unwrap returns ErrCorruption and the underlying error.
func (e *CorruptionError) Unwrap() []error { return []error{ErrCorruption, e.Err} }

// LockedError reports a folder whose lock another holder has: Lock is the
// lock file, Dir its folder, and PID the process the lock file names (0
// when it names none). It unwraps to ErrLocked.
type LockedError struct {
	Dir  string
	Lock string
	PID  int
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("lsm: folder %s is in use by %s (lock file %s): stop it first, or use another folder; two databases never share a folder", e.Dir, who, e.Lock)
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }
