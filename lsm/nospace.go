package lsm

import (
	"errors"
	"syscall"
	"time"
)

// A full disk is not a broken disk. Most write failures stop writes for
// good (ErrWritesStopped), because after a failed fsync nobody knows what
// reached the disk. A write(2) that fails for lack of space is different:
// nothing was acknowledged, and the part it wrote can be cut off again,
// leaving the file exactly as it was. So:
//
//   - a log write that runs out of space is taken back (the log is
//     truncated to its last whole record) and the group's writers get the
//     error; the next write tries again;
//   - a manifest edit that runs out of space is taken back the same way,
//     and the flush or compaction that wanted it fails;
//   - a flush or compaction that runs out of space removes what it wrote
//     and is retried after a pause (retryDelay, doubling to
//     maxRetryDelay); meanwhile writes that need it (a full memtable with
//     one already waiting, or too many level-0 files) fail with the error
//     at once instead of stalling; flushes and compactions are tracked
//     apart, so a compaction short of space does not fail a Flush;
//   - a failed fsync, or a failed take-back, still stops writes.
//
// Metrics.Err reports the condition until the failing work succeeds.

const (
	retryDelay    = 100 * time.Millisecond
	maxRetryDelay = 2 * time.Second
)

// isNoSpace reports whether err is a file system out of space or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// takenBackError is a write that failed for lack of space and was cut
// off the file again: the file is as it was before, and the write may be
// retried.
type takenBackError struct{ err error }

func (e *takenBackError) Error() string { return e.err.Error() }
func (e *takenBackError) Unwrap() error { return e.err }

func isTakenBack(err error) bool {
	if err == nil {
		return false
	}
	var tb *takenBackError
	return errors.As(err, &tb)
}

// spaceState tracks flushes and compactions failing for lack of space,
// each on its own: a compaction that finds no room does not hold back a
// flush that may. Guarded by DB.mu.
type spaceState struct {
	flush, compact spaceRetry
}

// spaceRetry is one kind of background work failing for lack of space.
type spaceRetry struct {
	what    string    // "flushes" or "compactions", for the log
	err     error     // the last such failure, nil once the work succeeds
	retryAt time.Time // the work does not start again before then
	delay   time.Duration
}

// due reports whether a retry may start at now.
func (r *spaceRetry) due(now time.Time) bool { return !now.Before(r.retryAt) }

// clock is where the retry timers read the time and set their timers:
// the wall clock, or a test's manual one (Options.clock), so that tests
// of a full disk move time forward instead of sleeping.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func())
}

// wallClock is the real clock.
type wallClock struct{}

func (wallClock) Now() time.Time                      { return time.Now() }
func (wallClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// failedLocked records a failure for lack of space and returns how long
// to wait before retrying. d.mu must be held.
func (d *DB) spaceFailedLocked(r *spaceRetry, err error) time.Duration {
	if r.err == nil {
		d.log.Warn("lsm: disk full: "+r.what+" paused, retrying", "err", err)
		r.delay = retryDelay
	} else {
		r.delay = min(2*r.delay, maxRetryDelay)
	}
	r.err = err
	r.retryAt = d.opts.clock.Now().Add(r.delay)
	d.cond.Broadcast()
	return r.delay
}

// spaceRecoveredLocked clears r after its work succeeded. d.mu must be
// held.
func (d *DB) spaceRecoveredLocked(r *spaceRetry) {
	if r.err != nil {
		d.log.Info("lsm: disk space available again: " + r.what + " resumed")
		r.err = nil
		r.retryAt = time.Time{}
	}
}

// walSpaceFailed records a log write taken back for lack of space.
func (d *DB) walSpaceFailed(err error) {
	if d.walSpaceErr.Swap(&err) == nil {
		d.log.Warn("lsm: disk full: log write taken back, writes fail until space is freed", "err", err)
	}
}

// walWritten clears the log's condition after a successful write. It is
// on every commit's path: one atomic load when there is nothing to clear.
func (d *DB) walWritten() {
	if d.walSpaceErr.Load() != nil && d.walSpaceErr.Swap(nil) != nil {
		d.log.Info("lsm: disk space available again: log writes resumed")
	}
}

// spaceErrLocked returns the current out-of-space condition, or nil.
// d.mu must be held.
func (d *DB) spaceErrLocked() error {
	if p := d.walSpaceErr.Load(); p != nil {
		return *p
	}
	if err := d.space.flush.err; err != nil {
		return err
	}
	return d.space.compact.err
}
