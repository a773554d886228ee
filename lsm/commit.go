package lsm

import (
	"errors"
	"fmt"
	"sync"

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
	if err == nil && d.opts.Sync == SyncNone && d.wal.w.Offset() >= d.preSyncAt {
		d.preSyncAt = d.wal.w.Offset() + d.preSyncStride()
		d.wakeLogLoop()
	}
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
