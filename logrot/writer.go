package logrot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Writer is an [io.WriteCloser] that appends to a log file and rotates it by
// size, at hourly or daily boundaries, and on demand; see the package
// documentation for names, retention and compression.
//
// A Writer is safe for concurrent use: every Write goes whole and
// uninterrupted into one file. Its zero value is not usable; create it
// with [New] and release it with [Writer.Close].
type Writer struct {
	path  string
	dir   string
	names namer
	opts  Options // with defaults; never changes after New

	cancel context.CancelFunc // stops maintainLoop
	wg     sync.WaitGroup     // tracks maintainLoop
	kick   chan struct{}      // capacity 1: a maintenance pass is wanted

	mu sync.Mutex // guards the fields below
	// file is the open log file; it is at path unless stale is set.
	file *os.File
	// regular is false when path is not a regular file (/dev/stdout, a
	// pipe): such a file is written but never rotated.
	regular bool
	// size is the number of bytes in file, counted from its size at open.
	size int64
	// mode is the permission for the next file created at path.
	mode fs.FileMode
	// next is the next hourly or daily boundary; zero with BySize.
	next time.Time
	// stale is set when a rotation renamed file to the backup pinned but
	// could not create a new file at path, nor undo the rename: writes go on
	// into the backup (nothing is lost) and every Write retries the open.
	// maintain leaves the pinned backup alone.
	stale  bool
	pinned string
	// lastMilli and lastSeq are the stamp (Unix ms) and sequence number of
	// the latest backup name, so that rotations within one millisecond get
	// increasing sequence numbers without a directory scan.
	lastMilli int64
	lastSeq   int
	closed    bool
	stats     Stats
}

// Stats are counters of a [Writer], for health and metrics endpoints. It is
// a plain value returned by [Writer.Stats]; the zero Stats means nothing
// happened yet.
type Stats struct {
	// Size is the current size of the open file in bytes.
	Size int64
	// BytesWritten counts bytes written to files since New.
	BytesWritten uint64
	// Rotations counts successful rotations, of every cause.
	Rotations uint64
	// WriteErrors counts Write calls that returned an error.
	WriteErrors uint64
	// RotateErrors counts failed rotations and reopens (the writes went on
	// into the previous file).
	RotateErrors uint64
	// BackgroundErrors counts failed steps of the background work:
	// compression, removal of old backups, recovery of interrupted
	// compressions.
	BackgroundErrors uint64
	// LastError is the most recent error of any kind above, and LastErrorAt
	// the time (per Options.Clock) it happened; nil and zero if none.
	LastError   error
	LastErrorAt time.Time
}

// New opens the log file at path for appending, creating it and its
// directory if needed, and starts the background goroutine that compresses
// and removes backups. An existing file is appended to and its size counts
// toward MaxSize; it is never truncated. Call [Writer.Close] to stop.
//
// If path names something other than a regular file (such as /dev/stdout),
// the Writer writes to it but never rotates it.
func New(path string, opts Options) (*Writer, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrInvalidOptions)
	}
	loc := time.UTC
	if opts.LocalTime {
		loc = opts.Clock().Location()
	}
	w := &Writer{
		path:  path,
		dir:   filepath.Dir(path),
		names: newNamer(path, loc),
		opts:  opts,
		kick:  make(chan struct{}, 1),
		mode:  opts.FileMode,
	}
	if w.mode == 0 {
		w.mode = DefaultFileMode
	}
	if err := os.MkdirAll(w.dir, opts.DirMode); err != nil {
		return nil, fmt.Errorf("logrot: %w", err)
	}
	w.mu.Lock()
	err := w.openLocked()
	w.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("logrot: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go w.maintainLoop(ctx)
	if w.regular {
		w.kickMaintenance() // finish what a previous process left
	}
	return w, nil
}

// Write writes p to the current file, rotating first when the hourly or
// daily boundary has passed or when p would push the file past MaxSize. A
// failed rotation is counted in [Stats] and p is written to the current
// file anyway. A failed write returns the error, is counted, and sends p
// to Options.Fallback.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.failLocked(&w.stats.WriteErrors, ErrClosed, p)
		return 0, ErrClosed
	}
	if w.opts.Rotation != BySize {
		if now := w.opts.Clock(); !now.Before(w.next) {
			// The backup is named after the boundary, the moment the file
			// ended, whenever the first write after it comes.
			stamp := w.next
			w.next = nextBoundary(w.opts.Rotation, now, w.names.loc)
			if w.size > 0 {
				if err := w.rotateLocked(stamp); err != nil {
					w.noteLocked(&w.stats.RotateErrors, err)
				}
			}
		}
	}
	if w.stale || (w.opts.MaxSize > 0 && w.size > 0 && len(p) > 0 && w.size+int64(len(p)) > w.opts.MaxSize) {
		if err := w.rotateLocked(w.opts.Clock()); err != nil {
			w.noteLocked(&w.stats.RotateErrors, err)
		}
	}
	n, err := w.file.Write(p)
	w.size += int64(n)
	w.stats.BytesWritten += uint64(n)
	if err != nil {
		err = fmt.Errorf("logrot: %w", err)
		w.failLocked(&w.stats.WriteErrors, err, p)
	}
	return n, err
}

// Rotate closes the current file, renames it to a backup named after the
// current time, and opens a new empty file at the path, even when the
// current file is empty. On error the Writer keeps writing to the current
// file. Rotate does nothing for a path that is not a regular file.
func (w *Writer) Rotate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := w.rotateLocked(w.opts.Clock()); err != nil {
		w.noteLocked(&w.stats.RotateErrors, err)
		return err
	}
	return nil
}

// Reopen closes the current file and opens the path again, creating it if
// it is missing. Call it on SIGHUP after an external tool such as logrotate
// moved the file away: later writes go to the new file at the path. If the
// path cannot be opened, the error is returned and counted and writes go on
// into the previous file.
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := w.reopenLocked(); err != nil {
		w.noteLocked(&w.stats.RotateErrors, err)
		return err
	}
	return nil
}

// Sync commits the current file to stable storage. It does nothing for a
// path that is not a regular file.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if !w.regular {
		return nil
	}
	if err := w.file.Sync(); err != nil {
		err = fmt.Errorf("logrot: %w", err)
		w.noteLocked(&w.stats.WriteErrors, err)
		return err
	}
	return nil
}

// Close syncs and closes the file, then stops the background goroutine and
// waits for it; an interrupted compression is finished by the next New.
// Later calls return nil; later writes return [ErrClosed] and go to
// Options.Fallback.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	var errs []error
	if w.regular {
		errs = append(errs, w.file.Sync())
	}
	errs = append(errs, w.file.Close())
	w.mu.Unlock()

	w.cancel()
	w.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("logrot: close: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Size = w.size
	return s
}

// openLocked opens path for appending, creating it with w.mode if missing,
// and makes it the current file; it leaves the previous file, if any, to
// the caller. Its error is the file system's, for the caller to say what
// it was doing. w.mu must be held.
func (w *Writer) openLocked() error {
	created := true
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, w.mode)
	if errors.Is(err, fs.ErrExist) {
		created = false
		f, err = os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err == nil && created {
		err = f.Chmod(w.mode) // the umask must not narrow or the option widen it
	}
	if err != nil {
		_ = f.Close() // the error above is the one to report
		return err
	}
	w.file = f
	w.size = info.Size()
	w.regular = info.Mode().IsRegular()
	if !created && w.regular && w.opts.FileMode == 0 {
		w.mode = info.Mode().Perm()
	}
	if w.opts.Rotation != BySize {
		// A file last written in an earlier period is rotated by the first
		// write, and named after the end of that period.
		now := w.opts.Clock()
		from := now
		if w.size > 0 && info.ModTime().Before(now) {
			from = info.ModTime()
		}
		w.next = nextBoundary(w.opts.Rotation, from, w.names.loc)
	}
	return nil
}

// reopenLocked replaces the current file with a newly opened path.
// w.mu must be held.
func (w *Writer) reopenLocked() error {
	if err := os.MkdirAll(w.dir, w.opts.DirMode); err != nil {
		return fmt.Errorf("logrot: reopen: %w", err)
	}
	old := w.file
	if err := w.openLocked(); err != nil {
		return fmt.Errorf("logrot: reopen: %w", err)
	}
	if w.stale {
		w.stale, w.pinned = false, ""
		w.kickMaintenance()
	}
	if err := old.Close(); err != nil {
		return fmt.Errorf("logrot: close previous file: %w", err)
	}
	return nil
}

// rotateLocked renames the current file to a backup stamped with stamp and
// opens a new file at path. On failure the current file stays in use.
// w.mu must be held.
func (w *Writer) rotateLocked(stamp time.Time) error {
	if !w.regular {
		return nil
	}
	if w.stale {
		// The current file is already a backup; a new file at path is all
		// that is missing.
		return w.reopenLocked()
	}
	name, err := w.backupNameLocked(stamp)
	if err != nil {
		return err
	}
	backupPath := filepath.Join(w.dir, name)
	if err := os.Rename(w.path, backupPath); err != nil {
		return fmt.Errorf("logrot: rotate: %w", err)
	}
	old, oldSize := w.file, w.size
	if err := w.openLocked(); err != nil {
		if uerr := os.Rename(backupPath, w.path); uerr != nil {
			w.stale, w.pinned = true, name
		}
		w.file, w.size = old, oldSize
		return fmt.Errorf("logrot: rotate: %w", err)
	}
	w.stats.Rotations++
	w.kickMaintenance()
	if err := old.Close(); err != nil {
		return fmt.Errorf("logrot: rotate: close %s: %w", name, err)
	}
	return nil
}

// backupNameLocked returns an unused backup name for stamp: the sequence
// number grows until no backup of that name exists in any form, so a
// rotation never overwrites one. w.mu must be held.
func (w *Writer) backupNameLocked(stamp time.Time) (string, error) {
	b := backup{stamp: stamp}
	if ms := stamp.UnixMilli(); ms == w.lastMilli {
		b.seq = w.lastSeq + 1
	} else {
		w.lastMilli = ms
	}
	for ; ; b.seq++ {
		free := true
		for _, k := range [...]kind{plain, gzipped, partial} {
			b.kind = k
			_, err := os.Lstat(filepath.Join(w.dir, w.names.format(b)))
			if err == nil {
				free = false
				break
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("logrot: rotate: %w", err)
			}
		}
		if free {
			w.lastSeq = b.seq
			b.kind = plain
			return w.names.format(b), nil
		}
	}
}

// noteLocked counts err in *counter and records it as the last error.
// w.mu must be held.
func (w *Writer) noteLocked(counter *uint64, err error) {
	*counter++
	w.stats.LastError = err
	w.stats.LastErrorAt = w.opts.Clock()
}

// failLocked is noteLocked for a write, which also goes to the fallback.
// w.mu must be held.
func (w *Writer) failLocked(counter *uint64, err error, p []byte) {
	w.noteLocked(counter, err)
	if w.opts.Fallback != nil {
		_, _ = w.opts.Fallback.Write(p) // the last resort has no one to report to
	}
}

// kickMaintenance asks maintainLoop for a pass without waiting.
func (w *Writer) kickMaintenance() {
	select {
	case w.kick <- struct{}{}:
	default: // a pass is already pending and will see the new state
	}
}

// nextBoundary returns the first hourly or daily boundary after t, in loc.
func nextBoundary(r Rotation, t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	switch r {
	case Hourly:
		// Add what is left of the local hour rather than truncating the
		// absolute time, so that zones with a :30 or :45 offset rotate at
		// their own full hour. An hour skipped or repeated by a daylight
		// saving change still gets exactly one boundary per real hour.
		_, m, s := t.Clock()
		left := time.Hour - time.Duration(m)*time.Minute - time.Duration(s)*time.Second - time.Duration(t.Nanosecond())
		return t.Add(left)
	case Daily:
		// time.Date normalises, so a day of 23 or 25 hours ends at the
		// right instant, and a midnight skipped by a daylight saving change
		// becomes the first instant of the day.
		y, m, d := t.Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return time.Time{}
}
