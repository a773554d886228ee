package lsm

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"amaters-server/lsm/internal/record"
)

// Memtable rotation: making room for a commit group in the mutable
// memtable, and switching it (with its log) for a new one when full.

// maxImmutable is the number of full memtables waiting for a flush
// beyond which writes stall, bounding memory to (1+maxImmutable)
// memtables.
const maxImmutable = 1

// stallThreshold is the time beyond which a memtable switch on the write
// path counts as a write stall.
const stallThreshold = time.Millisecond

// makeRoom ensures the memtable can take size bytes of batches holding
// count entries, switching it or stalling as needed. Leader only. It
// takes no context: see "Why writes take no context" in doc.go.
//
// Every wait here is a stall of all writers (the leader's group and those
// queued behind it): a wait for a flush or compaction counts as one,
// and so does a memtable switch that took over stallThreshold, each
// with its duration (Metrics.WriteStalls, WriteStallTime).
func (d *DB) makeRoom(size, count int) error {
	var start time.Time // set once makeRoom leaves its fast path
	stalled := false
	defer func() {
		if start.IsZero() {
			return
		}
		if el := time.Since(start); stalled || el > stallThreshold {
			if !stalled {
				d.stats.writeStalls.Add(1)
			}
			d.stats.stallNanos.Add(uint64(el))
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
		if start.IsZero() && (l0 >= d.opts.l0StopWrites || !d.mem.fits(size, count)) {
			start = time.Now()
		}
		switch {
		case l0 >= d.opts.l0StopWrites && !d.opts.disableAutoCompaction && d.space.compact.err != nil:
			if !d.space.compact.due(d.opts.clock.Now()) {
				err := fmt.Errorf("too many level-0 files and compaction is short of space: %w", d.space.compact.err)
				d.mu.Unlock()
				return err
			}
			// A retry is due: start it and wait for its outcome.
			d.maybeScheduleCompactionLocked()
			d.cond.Wait()
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
		case d.mem.unused():
			// A batch larger than a memtable gets a memtable of its own.
			d.mem = newMemtable(int64(size+count*(trailerLen+entryOverhead))+4096, d.mem.walNum)
		case len(d.imm) >= maxImmutable && d.space.flush.err != nil:
			if !d.space.flush.due(d.opts.clock.Now()) {
				err := fmt.Errorf("memtable full and its flush is short of space: %w", d.space.flush.err)
				d.mu.Unlock()
				return err
			}
			// A retry is due: start it and wait for its outcome.
			d.wakeFlusher()
			d.cond.Wait()
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
//
// It runs on the write path while every other writer waits, so the slow
// parts are done ahead by the log goroutine (logLoop): the next log is
// created, reserved and its directory entry synced before it is needed
// (prepareLog), and with SyncNone the live log is synced in the
// background as it grows (preSyncLog), so that the final sync here
// writes back only its last stretch. What remains is that sync, one
// manifest edit and the swap.
func (d *DB) switchMemtable() error {
	// The old memtable must be complete before it is queued for flush.
	d.waitApplied()
	// No background sync of the old log runs during the switch, and
	// none starts on it once it is closed.
	d.logSyncMu.Lock()
	defer d.logSyncMu.Unlock()
	// Sync the finished log, in every mode, before the next one gets a
	// record: its memtable may wait a while for its flush, and only the
	// newest log may end torn (a power cut after the new log's first
	// record reached the disk must not leave an older log with a torn
	// tail). The leader alone appends, so nothing is added to it after
	// this; if the new log cannot be set up, it simply goes on.
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
	d.walMu.Lock()
	if d.nextLog != nil && d.nextLog.num < old.num {
		// Prepared while an earlier switch made its own log: logs are
		// used in the order of their numbers.
		d.dropPreparedLogLocked()
	}
	next := d.nextLog
	d.nextLog = nil
	d.walMu.Unlock()
	var (
		num   uint64
		f     File
		added logAdded
	)
	if next != nil {
		num, f, added = next.num, next.f, next.added
	} else {
		num = d.nextFileNum.Add(1) - 1
		f, added, err = d.createLog(num)
	}
	path := filepath.Join(d.walDir, walName(num))
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
	// The old log is synced and recorded complete: the log goroutine
	// closes it (for a mapped log: unmaps it and cuts its reservation,
	// which a crash before that leaves as zeroes after the recorded end,
	// see scanLog).
	d.walMu.Lock()
	d.toClose = append(d.toClose, old)
	d.wal = &walWriter{num: num, f: f, w: record.NewWriter(f, 0)}
	d.walSynced = 0
	d.walMu.Unlock()
	d.preSyncAt = d.preSyncStride()
	d.wakeLogLoop() // close the old log, prepare the one after this
	d.walCheckpointAt.Store(firstCheckpoint)
	mem := newMemtable(d.opts.MemtableSize, num)
	// The old memtable's keys hint at what the next ones share (for the
	// server: the collection), so abbreviations skip it.
	mem.sl.setShared(d.mem.sl.commonPrefix())
	d.mu.Lock()
	d.imm = append(slices.Clone(d.imm), d.mem)
	d.mem = mem
	d.mu.Unlock()
	d.wakeFlusher()
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
