package lsm

import (
	"errors"
	"fmt"
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
//     or compactions are behind) and reserves room for the group,
//  2. stamps sequence numbers, and
//  3. writes all the batches to the log in one Write and, with
//     SyncAlways, one fsync.
//
// Then the group
//
//  4. applies its batches to the memtable, and
//  5. publishes its last sequence number to readers,
//
// marks all its writers done with one shared result and returns. With
// SyncAlways the leader does 4 and 5 before it wakes the next head. In
// the other modes, where there is no fsync to share, it wakes the next
// head right after step 3 (commitPipelined), so that the next group's
// log write overlaps this group's apply; groups still apply one at a
// time and in log order (applyInTurn, by ticket), so the skiplist keeps
// a single writer and readers see sequence numbers published in order,
// and a memtable is switched out only after every apply to it finished
// (waitApplied). While the leader does I/O, new writers queue behind it
// and form the next group, so N concurrent writers cost about
// N/groupsize fsyncs. With SyncAlways a new leader first lets the woken
// members of the previous group leave or queue again
// (awaitReturningWriters), so that writers in a loop share one fsync
// instead of two alternating. A write is acknowledged only after its
// fsync returned nil (SyncAlways), or in the other modes after its
// write(2) returned, and becomes visible to readers only after it is in
// the log, so a reader never sees a write that a crash could take back.
// A lone writer never waits for or wakes another goroutine.
//
// Any log write or fsync failure is sticky (see ErrWritesStopped): after
// a failed fsync the kernel may have dropped the dirty pages, so retrying
// could acknowledge lost data.
//
// Rejected design: applying batches to the memtable concurrently from
// each writer (pebble's commit pipeline). It needs a lock-free multi-writer
// skiplist and an ordered publication step; with two cores the single
// applier is not the bottleneck, the log write and the fsync are.

// maxGroupBytes caps a commit group, so one leader does not hold the
// others back with a huge write.
const maxGroupBytes = 1 << 20

// writer is one queued request: a batch, a Flush, or Close's final sync.
type writer struct {
	batch   *Batch
	flush   bool          // switch the memtable so that Flush can wait for it
	flushed *memtable     // set by a flush request: the memtable to wait for
	close   bool          // final request: sync and close the log
	group   []*writer     // the group it led; kept for its memory
	turn    chan struct{} // capacity 1: wakes it for its group's apply turn (awaitTurn)
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
	for !w.done && (len(d.writers) == 0 || d.writers[0] != w) {
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
	group := append(w.group[:0], w)
	if w.batch != nil {
		size := w.batch.size()
		for _, o := range d.writers[1:] {
			if o.batch == nil || size+o.batch.size() > maxGroupBytes {
				break
			}
			size += o.batch.size()
			group = append(group, o)
		}
	}
	w.group = group
	d.commitMu.Unlock()

	if w.batch != nil && d.opts.Sync != SyncAlways {
		return d.commitPipelined(w, group)
	}

	var err error
	switch {
	case w.flush:
		d.waitApplied()
		err = d.switchForFlush(w)
	case w.close:
		d.waitApplied()
		err = d.closeWAL()
	default:
		var res reservation
		var m *memtable
		if m, res, err = d.logGroup(group); err == nil {
			d.publish(d.applyTickets-1, d.lastSeq, m, &res, group)
		}
	}

	d.commitMu.Lock()
	doneLocked(w, group, err)
	d.popGroupLocked(len(group))
	d.leaveCommitLocked()
	d.commitMu.Unlock()
	return err
}

// commitPipelined commits a group of batches without a per-write fsync:
// the leader logs the group, hands the lead to the next writer at once,
// and only then applies the group to the memtable, so that the next
// group's log write overlaps this group's apply. Groups apply and become
// visible in log order (applyInTurn); a memtable switch first waits for
// every pending apply (waitApplied). An acknowledged write is still in
// the log (written) and in the memtable (visible) before commit returns.
func (d *DB) commitPipelined(w *writer, group []*writer) error {
	m, res, err := d.logGroup(group)
	ticket, last := d.applyTickets-1, d.lastSeq

	d.commitMu.Lock()
	d.popGroupLocked(len(group))
	d.commitMu.Unlock()

	if err == nil {
		d.publish(ticket, last, m, &res, group)
	}

	d.commitMu.Lock()
	doneLocked(w, group, err)
	d.leaveCommitLocked()
	d.commitMu.Unlock()
	return err
}

// publish applies a logged group, whose apply ticket is ticket and whose
// last sequence number is last, to m in its turn, then makes it visible to
// readers.
func (d *DB) publish(ticket, last uint64, m *memtable, res *reservation, group []*writer) {
	d.applyInTurn(ticket, group[0].turn, func() {
		applyGroup(m, res, group)
		d.visibleSeq.Store(last)
	})
}

// doneLocked gives every writer of leader w's group the result err and
// wakes the others. d.commitMu must be held.
func doneLocked(w *writer, group []*writer, err error) {
	for _, g := range group {
		g.err = err
		g.done = true
		if g != w {
			g.cond.Signal()
		}
	}
}

// popGroupLocked removes the leader's group of n writers from the head
// of the queue and wakes the next leader. d.commitMu must be held.
func (d *DB) popGroupLocked(n int) {
	k := copy(d.writers, d.writers[n:])
	clear(d.writers[k:])
	d.writers = d.writers[:k]
	if k > 0 {
		d.writers[0].cond.Signal()
	}
}

// applyInTurn runs apply, the memtable write of the group that took
// apply ticket t, once the groups before it have applied, then lets the
// next one go. Only the group whose turn it is writes the memtable, so
// the skiplist keeps its single writer. ch is the group leader's turn
// channel.
func (d *DB) applyInTurn(t uint64, ch chan struct{}, apply func()) {
	d.awaitTurn(t, ch)
	apply()
	d.applyMu.Lock()
	d.applyTurn++
	if next, ok := d.turnWaiter[d.applyTurn]; ok {
		delete(d.turnWaiter, d.applyTurn)
		next <- struct{}{} // capacity 1, and its last token was taken
	}
	d.applyMu.Unlock()
}

// awaitTurn returns once applyTurn is t. A waiter registers its channel
// under its ticket, and the group before it wakes exactly that one:
// waking every waiter at each turn (a condition variable's Broadcast)
// cost a quadratic storm of wake-ups with many writers in the pipeline.
// Tickets are distinct, and the leader's waitApplied waits for the ticket
// the next group will take only while no group holds it, so a ticket has
// one waiter at most.
func (d *DB) awaitTurn(t uint64, ch chan struct{}) {
	d.applyMu.Lock()
	if d.applyTurn == t {
		d.applyMu.Unlock()
		return
	}
	d.turnWaiter[t] = ch
	d.applyMu.Unlock()
	<-ch
}

// waitApplied waits until every group logged so far has been applied to
// the memtable. Leader only: no new group can be logged meanwhile.
func (d *DB) waitApplied() { d.awaitTurn(d.applyTickets, d.drained) }

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

// logGroup makes room for a group of batches, stamps their sequence
// numbers and writes them to the log; on success it returns the memtable
// they go to, with room reserved for them, and takes the next apply
// ticket (applyTickets-1). Leader only.
func (d *DB) logGroup(group []*writer) (*memtable, reservation, error) {
	size, count := 0, 0
	for _, g := range group {
		size += g.batch.size()
		count += g.batch.Len()
	}
	if err := d.makeRoom(size, count); err != nil {
		return nil, reservation{}, err
	}
	seq := d.lastSeq + 1
	for _, g := range group {
		g.batch.setSeq(seq)
		seq += uint64(g.batch.Len())
	}
	if seq-1 > maxSeq {
		return nil, reservation{}, d.setBGErr(errors.New("sequence numbers exhausted"))
	}
	d.walMu.Lock()
	good := d.wal.w.Offset()
	for _, g := range group {
		d.wal.w.WriteRecord(g.batch.data)
	}
	err := d.wal.w.Flush()
	if err != nil && isNoSpace(err) {
		err = d.takeBackWAL(good, err)
	} else if err == nil && d.opts.Sync == SyncAlways {
		err = d.wal.f.Sync()
		d.stats.walSyncs.Add(1)
		if err == nil {
			d.walSynced = d.wal.w.Offset()
		}
	}
	num, synced := d.wal.num, d.walSynced
	d.walMu.Unlock()
	if err != nil {
		if isTakenBack(err) {
			d.walSpaceFailed(err)
			return nil, reservation{}, fmt.Errorf("write ahead log: %w", err)
		}
		return nil, reservation{}, d.setBGErr(fmt.Errorf("write ahead log: %w", err))
	}
	d.walWritten()
	if d.opts.Sync == SyncAlways {
		// The group is durable whatever happens to the checkpoint: a
		// failed one stops later writes, not this one.
		d.maybeCheckpointLog(num, synced)
	}
	d.lastSeq = seq - 1
	d.applyTickets++
	return d.mem, d.mem.reserve(size, count), nil
}

// takeBackWAL cuts the log back to good, its size before a write that
// failed with err for lack of space, so that the next write continues
// after the last whole record. It returns a *takenBackError, or the
// truncation's error if the log could not be restored. d.walMu must be
// held.
func (d *DB) takeBackWAL(good int64, err error) error {
	if terr := d.wal.f.Truncate(good); terr != nil {
		return fmt.Errorf("%w; taking the partial write back failed: %w", err, terr)
	}
	d.wal.w = record.NewWriter(d.wal.f, good)
	return &takenBackError{err}
}

// applyGroup adds a group's batches to m, which has room reserved for
// them by res. The caller must be m's only writer.
func applyGroup(m *memtable, res *reservation, group []*writer) {
	m.beginApply(res)
	for _, g := range group {
		if err := m.apply(g.batch.data); err != nil {
			// Batches are built by Batch, so this is a bug.
			panic(fmt.Sprintf("lsm: applying own batch: %v", err))
		}
	}
	m.endApply(res)
}

// maxImmutable is the number of full memtables waiting for a flush
// beyond which writes stall, bounding memory to (1+maxImmutable)
// memtables.
const maxImmutable = 1

// makeRoom ensures the memtable can take size bytes of batches holding
// count entries, switching it or stalling as needed. Leader only.
func (d *DB) makeRoom(size, count int) error {
	stalled := false
	var stallStart time.Time
	defer func() {
		if stalled {
			d.stats.stallNanos.Add(uint64(time.Since(stallStart)))
		}
	}()
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
		case l0 >= d.opts.l0StopWrites && !d.opts.disableAutoCompaction && d.space.compact.err != nil:
			if !d.space.compact.due() {
				err := fmt.Errorf("too many level-0 files and compaction is short of space: %w", d.space.compact.err)
				d.mu.Unlock()
				return err
			}
			// A retry is due: start it and wait for its outcome.
			d.maybeScheduleCompactionLocked()
			d.cond.Wait()
		case l0 >= d.opts.l0StopWrites && !d.opts.disableAutoCompaction:
			if !stalled {
				stalled, stallStart = true, time.Now()
				d.stats.writeStalls.Add(1)
				d.log.Warn("lsm: writes stalled: too many level-0 files", "files", l0)
			}
			d.maybeScheduleCompactionLocked()
			d.cond.Wait()
		case d.mem.fits(size, count):
			d.mu.Unlock()
			return nil
		case d.mem.unused():
			// A batch larger than a memtable gets a memtable of its own.
			d.mem = newMemtable(int64(size+count*(trailerLen+entryOverhead))+4096, d.mem.walNum)
		case len(d.imm) >= maxImmutable && d.space.flush.err != nil:
			if !d.space.flush.due() {
				err := fmt.Errorf("memtable full and its flush is short of space: %w", d.space.flush.err)
				d.mu.Unlock()
				return err
			}
			// A retry is due: start it and wait for its outcome.
			select {
			case d.flushCh <- struct{}{}:
			default:
			}
			d.cond.Wait()
		case len(d.imm) >= maxImmutable:
			if !stalled {
				stalled, stallStart = true, time.Now()
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
	// The old memtable must be complete before it is queued for flush.
	d.waitApplied()
	// Sync the finished log, in every mode, before the next one exists:
	// its memtable may wait a while for its flush, and only the newest
	// log may end torn (a power cut after the new log's directory entry
	// was synced must not leave an older log with a torn tail). The
	// leader alone appends, so nothing is added to it after this; if the
	// new log cannot be created, it simply goes on.
	d.walMu.Lock()
	old := d.wal
	err := old.w.Flush()
	if err == nil {
		err = old.f.Sync()
		d.stats.walSyncs.Add(1)
	}
	oldSize := old.w.Offset()
	d.walMu.Unlock()
	if err != nil {
		return d.setBGErr(fmt.Errorf("finish log %s: %w", walName(old.num), err))
	}
	num := d.nextFileNum.Add(1) - 1
	path := filepath.Join(d.walDir, walName(num))
	f, added, err := d.createLog(num)
	if err != nil {
		if isNoSpace(err) {
			// Nothing changed: the current log and memtable go on.
			d.removeFile(path)
			err = &takenBackError{err}
			d.walSpaceFailed(err)
			return err
		}
		return d.setBGErr(err)
	}
	// The manifest learns that the old log is complete at its size and
	// that the new one exists before anything is written to the new one:
	// a log the manifest lists is never missing or shorter after a crash,
	// and one it does not list never holds a record (verify.go).
	e := &versionEdit{syncedLogs: []logSynced{{num: old.num, size: uint64(oldSize), final: true}}, addedLogs: []logAdded{added}}
	if err := d.logEdit(e); err != nil {
		f.Close()
		if isTakenBack(err) {
			// The edit is not in the manifest: the new log is garbage,
			// and the current log and memtable go on.
			d.removeFile(path)
			d.walSpaceFailed(err)
			return fmt.Errorf("record log %s: %w", walName(num), err)
		}
		// The edit may be in the manifest: keep the new log.
		return d.setBGErr(fmt.Errorf("record log %s: %w", walName(num), err))
	}
	d.walMu.Lock()
	err = old.f.Close()
	d.wal = &walWriter{num: num, f: f, w: record.NewWriter(f, 0)}
	d.walSynced = 0
	d.walMu.Unlock()
	d.walCheckpointAt.Store(firstCheckpoint)
	if err != nil {
		return d.setBGErr(fmt.Errorf("finish log %s: %w", walName(old.num), err))
	}
	mem := &memtable{sl: d.takeSpare(), walNum: num}
	// The old memtable's keys hint at what the next ones share (for the
	// server: the collection), so abbreviations skip it.
	mem.sl.setShared(d.mem.sl.commonPrefix())
	d.mu.Lock()
	d.imm = append(slices.Clone(d.imm), d.mem)
	d.mem = mem
	d.mu.Unlock()
	select {
	case d.flushCh <- struct{}{}:
	default:
	}
	return nil
}

// mapLog makes a new log file append through a mapping (maplog_linux.go)
// with SyncNone and SyncInterval, reserving about one memtable's worth of
// space, more than its records take. With SyncAlways the fsync per commit
// costs far more than the write(2) a mapping saves, and a log written
// with write(2) has no zero tail, so its end is held to the stricter
// rules of scanLog (verify.go).
func (d *DB) mapLog(f File) File {
	if d.opts.Sync == SyncAlways {
		return f
	}
	return mapLog(f, max(d.opts.MemtableSize, 1<<20))
}

// takeSpare returns the spare skiplist made by the flush goroutine, or a
// new one if there is none.
func (d *DB) takeSpare() *skiplist {
	d.mu.Lock()
	sl := d.spare
	d.spare = nil
	d.mu.Unlock()
	if sl == nil {
		sl = newMemtableSkiplist(d.opts.MemtableSize)
	}
	return sl
}

// makeSpare makes the spare skiplist for the next memtable switch, if
// there is none and no immutable memtable is waiting, so that memory
// stays within a mutable and an immutable memtable's worth. Flush
// goroutine only.
func (d *DB) makeSpare() {
	d.mu.Lock()
	need := d.spare == nil && len(d.imm) == 0 && d.bgErr == nil && !d.closed
	d.mu.Unlock()
	if !need {
		return
	}
	sl := newMemtableSkiplist(d.opts.MemtableSize)
	d.mu.Lock()
	if d.spare == nil && !d.closed {
		d.spare = sl
	}
	d.mu.Unlock()
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
	for len(d.imm) >= maxImmutable && d.bgErr == nil && d.space.flush.err == nil && !d.closed {
		d.cond.Wait()
	}
	switch {
	case d.closed:
		return ErrClosed
	case d.bgErr != nil:
		return d.bgErr
	case len(d.imm) >= maxImmutable:
		return fmt.Errorf("flush is short of space: %w", d.space.flush.err)
	}
	return nil
}

// closeWAL syncs and closes the log: Close's final request. Leader only.
// The manifest records the log complete at its size before the file is
// closed (a mapped log's Close cuts it to that size); if that fails, a
// mapped log keeps its reservation, as after a crash.
func (d *DB) closeWAL() error {
	d.walMu.Lock()
	err := d.wal.w.Flush()
	if err == nil {
		err = d.wal.f.Sync()
		d.stats.walSyncs.Add(1)
	}
	num, size := d.wal.num, d.wal.w.Offset()
	d.walMu.Unlock()
	if err == nil {
		d.mu.Lock()
		stopped := d.bgErr != nil
		d.mu.Unlock()
		if !stopped {
			err = d.recordLogSynced(num, size, true)
		}
	}
	d.walMu.Lock()
	defer d.walMu.Unlock()
	var cerr error
	if err == nil {
		cerr = d.wal.f.Close()
	} else {
		cerr = closeKeepingSize(d.wal.f)
	}
	if err == nil {
		err = cerr
	}
	d.walClosed = true
	if isTakenBack(err) {
		// No room for the manifest record: the log is whole and synced,
		// and the next Open replays it like a crashed one.
		d.log.Warn("lsm: log not recorded complete at close: no space left; the next Open replays it", "file", filepath.Join(d.walDir, walName(num)), "err", err.Error())
		return nil
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
		if d.walClosed { // Close got there first: it synced the log
			d.walMu.Unlock()
			return
		}
		err := d.wal.f.Sync()
		if err == nil {
			d.walSynced = d.wal.w.Offset()
		}
		num, synced := d.wal.num, d.walSynced
		d.walMu.Unlock()
		d.stats.walSyncs.Add(1)
		if err != nil {
			d.setBGErr(fmt.Errorf("sync log: %w", err))
			return
		}
		d.maybeCheckpointLog(num, synced)
	}
}

// firstCheckpoint is the synced size of a log at which its first
// synced-size checkpoint is due.
const firstCheckpoint = 4 << 10

// nextCheckpoint returns the synced size at which the checkpoint after
// one at synced is due: twice as far, and at most MemtableSize/8 (within
// [16 KiB, 1 MiB]) further. So a log cut to less than about half of its
// synced size, or by more than the stride, is always below a recorded
// checkpoint, for about log2(stride/4 KiB) + 8 manifest syncs per
// memtable.
func (d *DB) nextCheckpoint(synced int64) int64 {
	stride := min(max(d.opts.MemtableSize/8, 16<<10), 1<<20)
	return synced + min(max(synced, firstCheckpoint), stride)
}

// maybeCheckpointLog records in the manifest that log num is synced to
// synced bytes, when a checkpoint is due (nextCheckpoint), so that a log
// cut below it is refused rather than taken for a torn tail. Called by
// whoever syncs the live log (the leader with SyncAlways, the interval
// syncer with SyncInterval). A checkpoint that finds no space is
// skipped; any other failure stops writes.
func (d *DB) maybeCheckpointLog(num uint64, synced int64) {
	if synced < d.walCheckpointAt.Load() {
		return
	}
	if err := d.recordLogSynced(num, synced, false); err == nil || isTakenBack(err) {
		d.walCheckpointAt.Store(d.nextCheckpoint(synced))
	}
}

// recordLogSynced appends an edit recording that log num holds size
// synced bytes (final: and is complete), unless the manifest knows as
// much already or no longer lists the log.
func (d *DB) recordLogSynced(num uint64, size int64, final bool) error {
	d.manifestMu.Lock()
	defer d.manifestMu.Unlock()
	i := slices.IndexFunc(d.logs, func(l liveLog) bool { return l.num == num })
	if i < 0 || d.logs[i].final || (!final && size <= d.logs[i].synced) {
		return nil
	}
	return d.logEditLocked(&versionEdit{syncedLogs: []logSynced{{num: num, size: uint64(size), final: final}}})
}

// logEdit appends an edit that changes only the live logs.
func (d *DB) logEdit(e *versionEdit) error {
	d.manifestMu.Lock()
	defer d.manifestMu.Unlock()
	return d.logEditLocked(e)
}

// logEditLocked appends an edit that changes only the live logs. A
// failure other than for lack of space (taken back) stops writes.
// d.manifestMu must be held.
func (d *DB) logEditLocked(e *versionEdit) error {
	logs, err := applyLogs(d.logs, e)
	if err != nil {
		return fmt.Errorf("apply log edit: %w", err)
	}
	d.mu.Lock()
	v := d.current
	d.mu.Unlock()
	if err := d.writeEditLocked(e, v, logs); err != nil {
		if isTakenBack(err) {
			return err
		}
		return d.setBGErr(err)
	}
	d.logs = logs
	return nil
}

// mapCopyPiece bounds one copy into a mapped log (maplog_linux.go): a
// process killed in the middle of a copy() may leave any of its bytes
// unwritten (memmove does not promise an order), but the pieces go in
// order (see tornEnd in verify.go).
const mapCopyPiece = 4 << 10

// mapChunk is the granularity of a mapped log's reservation
// (maplog_linux.go): a mapped log as a crash leaves it is a multiple of
// it long (looksMapped in verify.go).
const mapChunk = 1 << 20

// replayWAL applies one log file to memtables during recovery, flushing
// full memtables to level-0 tables. scanLog (verify.go) decides what
// damage is a torn tail to cut and what forbids recovery.
func (r *recovery) replayWAL(p logPlan) error {
	d := r.d
	data, err := readFile(d.fs, p.path)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	torn, err := scanLog(p, data, func(rec []byte, off int64) error {
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
			return &CorruptionError{File: p.path, Offset: off, Err: err}
		}
		return r.apply(rec, br.seq, br.count)
	})
	if err != nil {
		return err
	}
	if torn >= 0 {
		d.stats.tornTails.Add(1)
		var synced int64
		if p.live != nil {
			synced = p.live.synced
		}
		d.log.Warn("lsm: cut the torn tail of the newest write-ahead log: it ends part-way through a record, as a crash in the middle of a log write leaves it; the cut bytes lie past the part known synced",
			"file", p.path, "offset", torn, "dropped_bytes", int64(len(data))-torn, "synced", synced)
	}
	return nil
}
