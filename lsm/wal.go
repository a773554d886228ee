package lsm

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"amaters-server/lsm/internal/record"
)

// The write-ahead log: the open log file, its syncs and synced-size
// checkpoints in the manifest, its close, and its replay at recovery.
// The commit pipeline that appends to it is in commit.go.

// walWriter is the open write-ahead log.
type walWriter struct {
	num uint64
	f   File
	w   *record.Writer
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

// closeWAL syncs and closes the log: Close's final request. Leader only.
// The manifest records the log complete at its size before the file is
// closed (a mapped log's Close cuts it to that size); if that fails, a
// mapped log keeps its reservation, as after a crash.
func (d *DB) closeWAL() error {
	d.logSyncMu.Lock()
	defer d.logSyncMu.Unlock()
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
	d.dropPreparedLogLocked()
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

// preparedLog is a log created ahead of the memtable switch that will
// use it (prepareLog). It is empty and not listed in the manifest, so a
// crash leaves it as an empty log the manifest does not know, which
// Open tolerates and deletes (planLogs and cleanUp).
type preparedLog struct {
	num   uint64
	f     File
	added logAdded
}

// logLoop is the log goroutine: it prepares the next log after Open and
// after each memtable switch, and with SyncNone syncs the live log in
// the background as it grows, so that a switch neither creates a log nor
// syncs a whole one while every writer waits (see switchMemtable).
func (d *DB) logLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			d.closeOldLogs()
			return
		case <-d.logCh:
		}
		d.prepareLog() // first: the next switch may be waiting for it
		d.closeOldLogs()
		if d.opts.Sync == SyncNone {
			d.preSyncLog()
		}
	}
}

// wakeLogLoop makes the log goroutine look for work.
func (d *DB) wakeLogLoop() {
	select {
	case d.logCh <- struct{}{}:
	default:
	}
}

// preSyncStride is how many bytes a SyncNone log grows between
// background syncs: what a switch's final sync has left to write back.
func (d *DB) preSyncStride() int64 { return min(max(d.opts.MemtableSize/16, 64<<10), 4<<20) }

// prepareLog creates the next log if none is ready. A failure is only
// logged: the switch then creates the log itself and reports the error.
func (d *DB) prepareLog() {
	d.walMu.Lock()
	skip := d.nextLog != nil || d.walClosed
	d.walMu.Unlock()
	if skip {
		return
	}
	num := d.nextFileNum.Add(1) - 1
	f, added, err := d.createLog(num)
	path := filepath.Join(d.walDir, walName(num))
	if err != nil {
		d.log.Warn("lsm: could not prepare the next log; the next memtable switch tries again", "file", path, "err", err.Error())
		d.removeFile(path)
		return
	}
	d.walMu.Lock()
	// Logs are used in the order of their numbers: a switch that did not
	// wait for this one made its own, newer log.
	if !d.walClosed && d.nextLog == nil && num > d.wal.num {
		d.nextLog = &preparedLog{num: num, f: f, added: added}
		f = nil
	}
	d.walMu.Unlock()
	if f != nil {
		f.Close()
		d.removeFile(path)
	}
}

// closeOldLogs closes the logs memtable switches finished. A failure
// loses nothing (the log is synced and recorded complete at its size;
// a mapped one may keep its reservation, zeroes the next Open accepts),
// so it is logged, not fatal.
func (d *DB) closeOldLogs() {
	d.walMu.Lock()
	logs := d.toClose
	d.toClose = nil
	d.walMu.Unlock()
	for _, w := range logs {
		if err := w.f.Close(); err != nil {
			d.log.Warn("lsm: closing a finished log failed; nothing is lost", "file", filepath.Join(d.walDir, walName(w.num)), "err", err.Error())
		}
	}
}

// dropPreparedLogLocked closes and removes a prepared log that no switch
// will use. d.walMu must be held.
func (d *DB) dropPreparedLogLocked() {
	if p := d.nextLog; p != nil {
		d.nextLog = nil
		p.f.Close()
		d.removeFile(filepath.Join(d.walDir, walName(p.num)))
	}
}

// preSyncLog syncs the live log (SyncNone) without holding walMu, so
// that commits go on meanwhile. It only shortens the switch's final
// sync; it changes no promise (walSynced stays as it was, so nothing
// is recorded in the manifest). A failed fsync stops writes, as any does.
func (d *DB) preSyncLog() {
	d.logSyncMu.Lock()
	defer d.logSyncMu.Unlock()
	d.walMu.Lock()
	if d.walClosed {
		d.walMu.Unlock()
		return
	}
	w := d.wal
	d.walMu.Unlock()
	err := w.f.Sync()
	d.stats.walSyncs.Add(1)
	if err != nil {
		d.setBGErr(fmt.Errorf("sync log %s: %w", walName(w.num), err))
	}
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
