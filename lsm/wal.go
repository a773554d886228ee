package lsm

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"amaters-server/lsm/internal/record"
)

// The commit pipeline (group commit).
//
// Writers queue up in d.writers. The writer at the head is the leader: it
// takes the head and the batches queued behind it (up to maxGroupBytes),
// releases commitMu, and then alone
//
//  1. makes room in the memtable (switching it, or stalling when flushes
//     or compactions are behind),
//  2. stamps sequence numbers,
//  3. writes all the batches to the log in one Write and, with
//     SyncAlways, one fsync,
//  4. applies them to the memtable, and
//  5. publishes the last sequence number to readers,
//
// then marks the whole group done with one shared result and wakes the
// next head. While the leader does I/O, new writers queue behind it and
// form the next group, so N concurrent writers cost about N/groupsize
// fsyncs. With SyncAlways a new leader first lets the woken members of
// the previous group leave or queue again (awaitReturningWriters), so
// that writers in a loop share one fsync instead of two alternating. A write is acknowledged only after its fsync returned nil
// (SyncAlways), and becomes visible to readers only after it is in the
// log, so a reader never sees a write that a crash could take back.
//
// Any log write or fsync failure is sticky (see ErrWritesStopped): after
// a failed fsync the kernel may have dropped the dirty pages, so retrying
// could acknowledge lost data.
//
// Rejected design: applying batches to the memtable concurrently from
// each writer (pebble's commit pipeline). It needs a lock-free multi-writer
// skiplist and an ordered publication step; with two cores the single
// applier is not the bottleneck, the fsync is.

// maxGroupBytes caps a commit group, so one leader does not hold the
// others back with a huge write.
const maxGroupBytes = 1 << 20

// writer is one queued request: a batch, a Flush, or Close's final sync.
type writer struct {
	batch   *Batch
	flush   bool      // switch the memtable so that Flush can wait for it
	flushed *memtable // set by a flush request: the memtable to wait for
	close   bool      // final request: sync and close the log
	done    bool
	err     error
	cond    sync.Cond // on d.commitMu
}

// walWriter is the open write-ahead log.
type walWriter struct {
	num uint64
	f   File
	w   *record.Writer
}

func (d *DB) commit(w *writer) error {
	d.commitMu.Lock()
	if d.closing {
		d.commitMu.Unlock()
		return ErrClosed
	}
	if w.close {
		d.closing = true
	}
	d.writers = append(d.writers, w)
	d.inCommit++
	if d.leaderWaiting {
		d.leaderCond.Signal()
	}
	for !w.done && d.writers[0] != w {
		w.cond.Wait()
	}
	if w.done {
		d.leaveCommitLocked()
		d.commitMu.Unlock()
		return w.err
	}
	if w.batch != nil && d.opts.Sync == SyncAlways {
		d.awaitReturningWriters()
	}
	// w leads. Take a group: a flush or close request goes alone.
	d.group = append(d.group[:0], w)
	if w.batch != nil {
		size := w.batch.size()
		for _, o := range d.writers[1:] {
			if o.batch == nil || size+o.batch.size() > maxGroupBytes {
				break
			}
			size += o.batch.size()
			d.group = append(d.group, o)
		}
	}
	group := d.group
	d.commitMu.Unlock()

	var err error
	switch {
	case w.flush:
		err = d.switchForFlush(w)
	case w.close:
		err = d.closeWAL()
	default:
		err = d.writeGroup(group)
	}

	d.commitMu.Lock()
	for _, g := range group {
		g.err = err
		g.done = true
		if g != w {
			g.cond.Signal()
		}
	}
	n := copy(d.writers, d.writers[len(group):])
	clear(d.writers[n:])
	d.writers = d.writers[:n]
	if n > 0 {
		d.writers[0].cond.Signal()
	}
	d.leaveCommitLocked()
	d.commitMu.Unlock()
	return err
}

// leaveCommitLocked counts a writer out of commit. d.commitMu must be held.
func (d *DB) leaveCommitLocked() {
	d.inCommit--
	if d.leaderWaiting {
		d.leaderCond.Signal()
	}
}

// awaitReturningWriters lets a new leader wait, before it takes its group,
// for the writers of the previous group that were woken but have not yet
// left commit. d.commitMu must be held; the caller leads.
//
// Without the wait, concurrent synchronous writers split into two
// cohorts that alternate: the writers acknowledged by one fsync come back
// while the next fsync, holding the others, is already running, so each
// fsync carries about half of them. The wait costs only the time for the
// woken writers to be scheduled, a few microseconds each, against an
// fsync of a hundred or more, and lets one fsync carry all of them.
//
// It never waits for anything but runnable goroutines: a writer counted
// in d.inCommit and not queued has been marked done and is only waking
// up to return (or, if it calls again at once, to queue). A writer that
// does other work between writes has left commit and is not waited for;
// a lone writer never waits. Only SyncAlways batches wait: without an
// fsync to share, a group is cheap and waiting would cost more than it
// saves.
func (d *DB) awaitReturningWriters() {
	d.leaderWaiting = true
	for d.inCommit > len(d.writers) {
		d.leaderCond.Wait()
	}
	d.leaderWaiting = false
}

// writeGroup logs and applies a group of batches. Leader only.
func (d *DB) writeGroup(group []*writer) error {
	size, count := 0, 0
	for _, g := range group {
		size += g.batch.size()
		count += g.batch.Len()
	}
	if err := d.makeRoom(size, count); err != nil {
		return err
	}
	seq := d.lastSeq + 1
	for _, g := range group {
		g.batch.setSeq(seq)
		seq += uint64(g.batch.Len())
	}
	if seq-1 > maxSeq {
		return d.setBGErr(errors.New("sequence numbers exhausted"))
	}
	d.walMu.Lock()
	for _, g := range group {
		d.wal.w.WriteRecord(g.batch.data)
	}
	err := d.wal.w.Flush()
	if err == nil && d.opts.Sync == SyncAlways {
		err = d.wal.f.Sync()
		d.stats.walSyncs.Add(1)
	}
	d.walMu.Unlock()
	if err != nil {
		return d.setBGErr(fmt.Errorf("write ahead log: %w", err))
	}
	for _, g := range group {
		if err := d.mem.apply(g.batch.data); err != nil {
			// Batches are built by Batch, so this is a bug.
			panic(fmt.Sprintf("lsm: applying own batch: %v", err))
		}
	}
	d.lastSeq = seq - 1
	d.visibleSeq.Store(d.lastSeq)
	return nil
}

// maxImmutable is the number of full memtables waiting for a flush
// beyond which writes stall, bounding memory to (1+maxImmutable)
// memtables.
const maxImmutable = 1

// makeRoom ensures the memtable can take size bytes of batches holding
// count entries, switching it or stalling as needed. Leader only.
func (d *DB) makeRoom(size, count int) error {
	stalled := false
	d.mu.Lock()
	for {
		if d.bgErr != nil {
			err := d.bgErr
			d.mu.Unlock()
			return err
		}
		if d.closed {
			d.mu.Unlock()
			return ErrClosed
		}
		l0 := len(d.current.levels[0])
		switch {
		case l0 >= d.opts.l0StopWrites && !d.opts.disableAutoCompaction:
			if !stalled {
				stalled = true
				d.stats.writeStalls.Add(1)
				d.log.Warn("lsm: writes stalled: too many level-0 files", "files", l0)
			}
			d.maybeScheduleCompactionLocked()
			d.cond.Wait()
		case d.mem.fits(size, count):
			d.mu.Unlock()
			return nil
		case d.mem.empty():
			// A batch larger than a memtable gets a memtable of its own.
			d.mem = newMemtable(int64(size+count*(trailerLen+entryOverhead))+4096, d.mem.walNum)
		case len(d.imm) >= maxImmutable:
			if !stalled {
				stalled = true
				d.stats.writeStalls.Add(1)
			}
			d.cond.Wait()
		default:
			d.mu.Unlock()
			if err := d.switchMemtable(); err != nil {
				return err
			}
			d.mu.Lock()
		}
	}
}

// switchMemtable starts a new log and memtable and queues the old
// memtable for flushing. Leader only (or recovery).
func (d *DB) switchMemtable() error {
	num := d.nextFileNum.Add(1) - 1
	path := filepath.Join(d.walDir, walName(num))
	f, err := d.fs.Create(path)
	if err != nil {
		return d.setBGErr(fmt.Errorf("create log: %w", err))
	}
	if err := syncDir(d.fs, d.walDir); err != nil {
		f.Close()
		return d.setBGErr(err)
	}
	d.walMu.Lock()
	old := d.wal
	err = old.w.Flush()
	if err == nil {
		// Sync the finished log in every mode: its memtable may wait a
		// while for its flush.
		err = old.f.Sync()
		d.stats.walSyncs.Add(1)
	}
	if cerr := old.f.Close(); err == nil {
		err = cerr
	}
	d.wal = &walWriter{num: num, f: f, w: record.NewWriter(f, 0)}
	d.walMu.Unlock()
	if err != nil {
		return d.setBGErr(fmt.Errorf("finish log %s: %w", walName(old.num), err))
	}
	d.mu.Lock()
	d.imm = append(slices.Clone(d.imm), d.mem)
	d.mem = newMemtable(d.opts.MemtableSize, num)
	d.mu.Unlock()
	select {
	case d.flushCh <- struct{}{}:
	default:
	}
	return nil
}

// switchForFlush handles a Flush request: it switches a non-empty
// memtable and tells the caller which memtable to wait for. Leader only.
func (d *DB) switchForFlush(w *writer) error {
	d.mu.Lock()
	empty := d.mem.empty()
	err := d.bgErr
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if !empty {
		// Wait for room in the immutable list, as a write would.
		if err := d.makeRoomForSwitch(); err != nil {
			return err
		}
		if err := d.switchMemtable(); err != nil {
			return err
		}
	}
	d.mu.Lock()
	if n := len(d.imm); n > 0 {
		w.flushed = d.imm[n-1]
	}
	d.mu.Unlock()
	return nil
}

func (d *DB) makeRoomForSwitch() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.imm) >= maxImmutable && d.bgErr == nil && !d.closed {
		d.cond.Wait()
	}
	if d.closed {
		return ErrClosed
	}
	return d.bgErr
}

// closeWAL syncs and closes the log: Close's final request. Leader only.
func (d *DB) closeWAL() error {
	d.walMu.Lock()
	defer d.walMu.Unlock()
	err := d.wal.w.Flush()
	if err == nil {
		err = d.wal.f.Sync()
		d.stats.walSyncs.Add(1)
	}
	if cerr := d.wal.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncLoop fsyncs the log every SyncInterval (SyncInterval mode).
func (d *DB) syncLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		d.commitMu.Lock()
		closing := d.closing
		d.commitMu.Unlock()
		if closing {
			return
		}
		d.walMu.Lock()
		err := d.wal.f.Sync()
		d.walMu.Unlock()
		d.stats.walSyncs.Add(1)
		if err != nil {
			d.setBGErr(fmt.Errorf("sync log: %w", err))
			return
		}
	}
}

// replayWAL applies one log file to memtables during recovery, flushing
// full memtables to level-0 tables. last says whether it is the newest
// log, the only one that may have a torn tail.
func (r *recovery) replayWAL(num uint64, last bool) error {
	d := r.d
	path := filepath.Join(d.walDir, walName(num))
	data, err := readFile(d.fs, path)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	rd := record.NewReader(data)
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var ce *record.CorruptError
		if errors.As(err, &ce) {
			if ce.Truncated && last {
				d.stats.tornTails.Add(1)
				d.log.Warn("lsm: cut torn tail of write-ahead log; the write in progress at the crash was never acknowledged",
					"file", path, "offset", ce.Offset, "dropped_bytes", int64(len(data))-ce.Offset)
				return nil
			}
			return &CorruptionError{File: path, Offset: ce.Offset, Err: err}
		}
		if err != nil {
			return err
		}
		br, err := newBatchReader(rec)
		if err == nil {
			for {
				if _, _, _, ok := br.next(); !ok {
					break
				}
			}
			err = br.err
		}
		if err != nil {
			return &CorruptionError{File: path, Offset: rd.RecordOffset(), Err: err}
		}
		if err := r.apply(rec, br.seq, br.count); err != nil {
			return err
		}
	}
}
