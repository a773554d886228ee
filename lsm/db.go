package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
)

// DB is a log-structured merge tree of byte-string keys and values.
//
// A DB is safe for concurrent use. Open it with [Open]; the zero value is
// not usable. Close it when done: Close flushes the memtable, syncs the
// log and stops the background work.
//
// Lock order. A goroutine that holds one of DB's mutexes takes another
// only in this order:
//
//	logSyncMu → manifestMu → walMu
//	logSyncMu → manifestMu → mu
//
// and takes no other mutex while it holds any of the rest:
//
//   - commitMu is held only to queue, elect and release writers; a
//     leader drops it before its I/O and takes nothing under it (the
//     interval syncer reads closing under it and drops it before walMu);
//   - walMu and mu are never held together, in either order;
//   - applyMu (apply turns) and damageMu (the damage map) are leaves,
//     held for a few instructions;
//   - the block and table caches' own locks are leaves below all of them.
//
// Condition variables: cond waits on mu, leaderCond on commitMu, and a
// queued writer's cond on commitMu.
type DB struct {
	dir, walDir string
	opts        Options
	fs          FS
	log         *slog.Logger
	lock        io.Closer // LOCK in dir
	walLock     io.Closer // LOCK in walDir when it is another folder, or nil
	bc          *blockCache
	tc          *tableCache

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines

	closeOnce sync.Once
	closeErr  error // of the first Close

	// commitMu guards writers, closing and the leader's hand-off. The
	// writer at the head of writers is the leader: it alone touches wal's
	// record writer, lastSeq and the mutable memtable's contents.
	commitMu sync.Mutex
	writers  []*writer
	closing  bool
	// inCommit counts the writers between queuing and returning from
	// commit: the queued ones and those woken to return. A new leader
	// waits on leaderCond (on commitMu), with leaderWaiting set, until
	// every writer in commit is queued (see awaitReturningWriters).
	inCommit      int
	leaderWaiting bool
	leaderCond    sync.Cond
	lastSeq       uint64    // leader only: last sequence number assigned
	applyTickets  uint64    // leader only: apply tickets handed out (see commitPipelined)
	batchPool     sync.Pool // of *Batch, for Put and Delete
	writerPool    sync.Pool // of *writer

	// applyMu guards applyTurn, the ticket of the next group to apply
	// to the memtable, and turnWaiter: for a ticket, the channel of the
	// one goroutine waiting for its turn (see awaitTurn). drained is the
	// leader's channel for waitApplied.
	applyMu    sync.Mutex
	applyTurn  uint64
	turnWaiter map[uint64]chan struct{}
	drained    chan struct{}

	// walMu guards wal and walSynced: the leader writes and syncs under
	// it, the interval syncer syncs under it, and the leader swaps it at
	// memtable switches. Lock order: manifestMu, then walMu.
	walMu     sync.Mutex
	wal       *walWriter
	walSynced int64 // bytes of wal known synced (SyncAlways, SyncInterval)
	walClosed bool  // set by closeWAL
	// nextLog is the log the next memtable switch will use, prepared by
	// the log goroutine (logLoop), or nil.
	nextLog *preparedLog
	// toClose are logs memtable switches finished, for the log goroutine
	// to close.
	toClose []*walWriter
	// logSyncMu keeps the log goroutine's background sync of the live
	// log (preSyncLog) apart from a memtable switch and closeWAL, which
	// sync and close that log. Taken before manifestMu and walMu.
	logSyncMu sync.Mutex
	// preSyncAt is the live log's size at which the next background
	// sync is due (SyncNone). Leader only.
	preSyncAt int64
	logCh     chan struct{} // wakes the log goroutine; capacity 1
	// walCheckpointAt is the synced size of wal at which the next
	// synced-size checkpoint is due (maybeCheckpointLog).
	walCheckpointAt atomic.Int64

	// visibleSeq is the last sequence number whose write is complete in
	// the memtable; reads see nothing newer.
	visibleSeq  atomic.Uint64
	nextFileNum atomic.Uint64

	// mu guards mem, imm, current, snaps, bgErr, closed, compacting and the
	// compacting flags of files; cond (on mu) is broadcast when a flush
	// or compaction finishes or a background error is set.
	mu         sync.Mutex
	cond       sync.Cond
	mem        *memtable
	imm        []*memtable // immutable memtables, oldest first; replaced, never modified
	current    *version
	snaps      []*Snapshot // open snapshots, in order of creation (so of seq)
	bgErr      error
	closed     bool
	compacting []*compaction
	compactPtr [numLevels][]byte // round-robin position per level (user key)
	// space is the disk-full state of flushes and compactions, and
	// walSpaceErr the last log write taken back for lack of space, nil
	// once a log write succeeds (see nospace.go).
	space       spaceState
	walSpaceErr atomic.Pointer[error]

	// manifestMu serialises version changes and guards manifest, logNum,
	// logs and dbID. It is taken before d.mu and walMu, never after.
	manifestMu sync.Mutex
	manifest   *manifestWriter
	logNum     uint64
	logs       []liveLog // the live logs the manifest lists, by number
	dbID       []byte

	// damageMu guards damage: the first corruption found in each file
	// (by a read, a compaction or the scrubber), for Damage.
	damageMu sync.Mutex
	damage   map[string]error
	// lostFound is the number of entries of lost+found after Open.
	lostFound atomic.Int64

	flushCh   chan struct{} // wakes the flusher; capacity 1
	iterators atomic.Int64  // open iterators, for leak reports at Close
	stats     counters
}

// counters are the monotonic metrics.
type counters struct {
	flushes, compactions, walSyncs, writeStalls, tornTails atomic.Uint64
	stallNanos                                             atomic.Uint64 // total duration of writeStalls
	subcompactions                                         atomic.Uint64 // sub-ranges of split compactions
	compactionRead, compactionWritten                      atomic.Uint64 // table bytes merged by compactions
	movedToLostFound, corruptions, scrubPasses, scrubBytes atomic.Uint64
}

// Open opens the database in dir, creating it if needed, and recovers
// every write acknowledged before a crash. Before it changes anything it
// proves that every file the manifest names is there and intact (see the
// package documentation, "What Open verifies"): damage makes Open fail
// with a *CorruptionError naming the file (several, joined, for several
// files); a folder another process holds fails with a *LockedError.
func Open(dir string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("lsm: invalid options: %w", err)
	}
	dir = filepath.Clean(dir)
	d := &DB{dir: dir, walDir: opts.WALDir, opts: opts, fs: opts.FS, log: opts.Logger,
		flushCh: make(chan struct{}, 1), logCh: make(chan struct{}, 1), damage: map[string]error{}}
	if d.walDir == "" {
		d.walDir = dir
	}
	d.walDir = filepath.Clean(d.walDir)
	d.cond.L = &d.mu
	d.leaderCond.L = &d.commitMu
	d.turnWaiter = map[uint64]chan struct{}{}
	d.drained = make(chan struct{}, 1)
	d.space.flush.what, d.space.compact.what = "flushes", "compactions"
	if err := d.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lsm: create dir: %w", err)
	}
	if err := d.fs.MkdirAll(d.walDir, 0o700); err != nil {
		return nil, fmt.Errorf("lsm: create wal dir: %w", err)
	}
	lock, err := lockDir(d.fs, dir)
	if err != nil {
		return nil, err
	}
	d.lock = lock
	if d.walDir != dir {
		// Two databases sharing a log folder would take each other's
		// logs for their own (or for obsolete ones).
		if d.walLock, err = lockDir(d.fs, d.walDir); err != nil {
			lock.Close()
			return nil, err
		}
	}
	d.bc = newBlockCache(opts.BlockCacheSize)
	d.tc = newTableCache(d.fs, dir, d.bc, 1000)
	d.tc.onCorruption = d.noteCorruption
	if err := d.recover(); err != nil {
		d.tc.close()
		if d.manifest != nil {
			d.manifest.close()
		}
		d.closeOldLogs()
		if d.wal != nil {
			closeKeepingSize(d.wal.f)
		}
		if d.walLock != nil {
			d.walLock.Close()
		}
		lock.Close()
		if errors.Is(err, ErrCorruption) {
			err = fmt.Errorf("lsm: refusing to open %s: restore it from a backup (Check lists all the damage): %w", dir, err)
		}
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(1)
	go d.flushLoop()
	d.preSyncAt = d.preSyncStride()
	d.wg.Add(1)
	go d.logLoop()
	d.wakeLogLoop()
	if opts.Sync == SyncInterval {
		d.wg.Add(1)
		go d.syncLoop()
	}
	if opts.ScrubInterval > 0 {
		d.wg.Add(1)
		go d.scrubLoop()
	}
	d.mu.Lock()
	d.maybeScheduleCompactionLocked()
	d.mu.Unlock()
	return d, nil
}

// Get returns the value of key. It returns ErrNotFound if key has no
// value. The returned slice is the caller's; it is non-nil (possibly
// empty) whenever err is nil.
func (d *DB) Get(key []byte) ([]byte, error) {
	return d.get(key, latestSeq)
}

// Put sets key to value. The DB copies both, so the caller may reuse them
// once Put returns. Put returns when the write is durable per Options.Sync.
func (d *DB) Put(key, value []byte) error {
	b := d.getBatch()
	b.Put(key, value)
	err := d.Apply(b)
	d.putBatch(b)
	return err
}

// Delete removes key. Deleting an absent key is not an error.
func (d *DB) Delete(key []byte) error {
	b := d.getBatch()
	b.Delete(key)
	err := d.Apply(b)
	d.putBatch(b)
	return err
}

func (d *DB) getBatch() *Batch {
	if b, ok := d.batchPool.Get().(*Batch); ok {
		return b
	}
	return new(Batch)
}

func (d *DB) putBatch(b *Batch) {
	if cap(b.data) <= 64<<10 {
		b.Reset()
		d.batchPool.Put(b)
	}
}

// Apply applies every operation of b atomically: a reader or a recovery
// after a crash sees all of them or none. b may be reused once Apply
// returns.
func (d *DB) Apply(b *Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if b.size() >= 1<<32-1 {
		return ErrBatchTooLarge
	}
	w, _ := d.writerPool.Get().(*writer)
	if w == nil {
		w = &writer{turn: make(chan struct{}, 1)}
		w.cond.L = &d.commitMu
	}
	w.batch = b
	err := d.commit(w)
	clear(w.group)
	*w = writer{cond: sync.Cond{L: &d.commitMu}, group: w.group[:0], turn: w.turn}
	d.writerPool.Put(w)
	return err
}

// Snapshot returns a consistent, read-only view of the DB as of now. It
// must be closed, or it keeps old versions of keys from being compacted
// away.
func (d *DB) Snapshot() *Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &Snapshot{d: d, seq: d.visibleSeq.Load()}
	if d.closed {
		s.closed = true
		return s
	}
	d.snaps = append(d.snaps, s)
	return s
}

// NewIterator returns an iterator over the keys in [lo, hi) as of now; a
// nil bound is unbounded. The iterator is a snapshot: later writes do not
// show in it. Errors, including ErrClosed, come from its Close.
func (d *DB) NewIterator(lo, hi []byte) *Iterator {
	return d.newIterator(lo, hi, latestSeq)
}

// Flush writes the memtable to an SSTable and waits until it is durable in
// the manifest, so that the write-ahead log written so far is no longer
// needed.
func (d *DB) Flush() error {
	w := writer{flush: true}
	w.cond.L = &d.commitMu
	if err := d.commit(&w); err != nil {
		return err
	}
	if w.flushed == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for slices.Contains(d.imm, w.flushed) && d.bgErr == nil && d.space.flush.err == nil {
		d.cond.Wait()
	}
	if d.bgErr == nil && slices.Contains(d.imm, w.flushed) {
		return fmt.Errorf("lsm: flush is short of space: %w", d.space.flush.err)
	}
	return d.bgErr
}

// Close flushes the memtable, syncs the log, waits for background work
// and releases the files. Iterators and snapshots must be closed first.
// Close is idempotent: a call while another runs waits for it, and every
// call but the first returns nil.
func (d *DB) Close() error {
	first := false
	d.closeOnce.Do(func() { first = true; d.closeErr = d.close() })
	if first {
		return d.closeErr
	}
	return nil
}

func (d *DB) close() error {
	var errs []error
	switch err := d.Flush(); {
	case err == nil, errors.Is(err, ErrWritesStopped):
	case isNoSpace(err):
		// Not an error of Close: the log keeps every write, and the
		// next Open replays it (once there is room for the table).
		d.log.Warn("lsm: memtable not flushed at close: no space left; the log keeps its writes", "error", err.Error())
	default:
		errs = append(errs, err)
	}
	w := writer{close: true}
	w.cond.L = &d.commitMu
	if err := d.commit(&w); err != nil && !errors.Is(err, ErrClosed) {
		errs = append(errs, err)
	}
	d.cancel()
	d.mu.Lock()
	d.closed = true
	d.cond.Broadcast()
	d.mu.Unlock()
	d.wg.Wait()
	d.closeOldLogs()

	d.manifestMu.Lock()
	if err := d.manifest.close(); err != nil {
		errs = append(errs, err)
	}
	d.manifestMu.Unlock()
	if n := d.iterators.Load(); n > 0 {
		d.log.Warn("lsm: closed with open iterators", "count", n)
	}
	// The current version keeps its reference: its files are the
	// database, not garbage.
	d.tc.close()
	if d.walLock != nil {
		if err := d.walLock.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.lock.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// isClosed reports whether Close has started.
func (d *DB) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// readState is what a read needs: the memtables and the version, pinned,
// and the sequence number to read at.
type readState struct {
	mem *memtable
	imm []*memtable
	v   *version
	seq uint64
}

// latestSeq asks loadState for the latest visible sequence number.
const latestSeq = ^uint64(0)

// loadState pins the current state. With latestSeq it reads at the latest
// visible sequence number, loaded in the same critical section: then
// every write at or below it is in one of the memtables or in the version
// (a flush installs its table and drops its memtable in one step under
// d.mu), and no compaction in the version dropped a value it needs (a
// compaction keeps what the oldest snapshot or the visible sequence
// number at its start can see, and that number is not above this one).
// Any other seq comes from a registered Snapshot, which compactions
// respect for as long as it is open.
func (d *DB) loadState(seq uint64) (readState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return readState{}, ErrClosed
	}
	if seq == latestSeq {
		seq = d.visibleSeq.Load()
	}
	d.current.ref()
	return readState{mem: d.mem, imm: d.imm, v: d.current, seq: seq}, nil
}

func (d *DB) get(key []byte, seq uint64) ([]byte, error) {
	rs, err := d.loadState(seq)
	if err != nil {
		return nil, err
	}
	seq = rs.seq
	defer rs.v.unref()
	v, k, found := rs.mem.get(key, seq)
	for i := len(rs.imm) - 1; i >= 0 && !found; i-- {
		v, k, found = rs.imm[i].get(key, seq)
	}
	if !found {
		v, k, found, err = d.getFromVersion(rs.v, key, seq)
		if err != nil {
			return nil, err
		}
	}
	if !found || k == kindDelete {
		return nil, ErrNotFound
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, nil
}

func (d *DB) getFromVersion(v *version, ukey []byte, seq uint64) ([]byte, kind, bool, error) {
	var scratch [64]byte
	for _, f := range v.levels[0] {
		if !f.overlaps(ukey, ukey) {
			continue
		}
		val, k, found, err := d.tc.find(f, ukey, seq, scratch[:0])
		if err != nil || found {
			return val, k, found, err
		}
	}
	for level := 1; level < numLevels; level++ {
		files := v.levels[level]
		i, _ := slices.BinarySearchFunc(files, ukey, func(f *fileMeta, k []byte) int {
			return compareUser(f.largestUser(), k)
		})
		if i >= len(files) || compareUser(files[i].smallestUser(), ukey) > 0 {
			continue
		}
		val, k, found, err := d.tc.find(files[i], ukey, seq, scratch[:0])
		if err != nil || found {
			return val, k, found, err
		}
	}
	return nil, 0, false, nil
}

func (d *DB) newIterator(lo, hi []byte, seq uint64) *Iterator {
	rs, err := d.loadState(seq)
	if err != nil {
		return &Iterator{d: d, closed: true, err: err}
	}
	seq = rs.seq
	d.iterators.Add(1)
	children := []internalIterator{rs.mem.newIter()}
	for i := len(rs.imm) - 1; i >= 0; i-- {
		children = append(children, rs.imm[i].newIter())
	}
	var openErr error
	for _, f := range rs.v.levels[0] {
		if lo != nil && compareUser(f.largestUser(), lo) < 0 {
			continue
		}
		if hi != nil && compareUser(f.smallestUser(), hi) >= 0 {
			continue
		}
		ti, err := d.tc.newIter(f.num)
		if err != nil {
			openErr = err
			break
		}
		children = append(children, ti)
	}
	for level := 1; level < numLevels; level++ {
		if len(rs.v.levels[level]) > 0 {
			children = append(children, &levelIter{tc: d.tc, files: rs.v.levels[level]})
		}
	}
	var iter internalIterator
	if len(children) == 1 {
		iter = children[0]
	} else {
		iter = newMergingIter(children)
	}
	it := &Iterator{d: d, v: rs.v, seq: seq, iter: iter, lo: cloneOrNil(lo), hi: cloneOrNil(hi)}
	if openErr != nil {
		it.err = openErr
		it.done = true
	}
	return it
}

func cloneOrNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func compareUser(a, b []byte) int {
	return bytes.Compare(a, b)
}

// setBGErrLocked records a sticky failure. d.mu must be held.
func (d *DB) setBGErrLocked(err error) {
	if d.bgErr == nil {
		d.bgErr = fmt.Errorf("%w: %w", ErrWritesStopped, err)
		d.log.Error("lsm: writes stopped", "err", err)
	}
	d.cond.Broadcast()
}

func (d *DB) setBGErr(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setBGErrLocked(err)
	return d.bgErr
}

// lockDir takes the lock of a database or log folder: its LOCK file,
// which records the holder's process ID.
func lockDir(fs FS, dir string) (io.Closer, error) {
	l, err := fs.Lock(filepath.Join(dir, lockName))
	if err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, fmt.Errorf("lsm: lock %s: %w", dir, err)
	}
	return l, nil
}

// isNotExist reports a missing file on any FS.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
