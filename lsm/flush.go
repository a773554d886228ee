package lsm

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"slices"

	"amaters-server/lsm/internal/sstable"
)

// tableBuilder writes one SSTable: to a temporary name, then fsync, rename
// and directory fsync, so that a table name in the directory always holds
// a complete, durable table.
type tableBuilder struct {
	d        *DB
	num      uint64
	tmp      string
	f        File
	crc      crcWriter // the whole file's CRC-32C, for the manifest
	bw       *bufio.Writer
	w        *sstable.Writer
	smallest []byte
	largest  []byte
}

// crcWriter writes to w and keeps the CRC-32C of what it wrote.
type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, crcTable, p[:n])
	return n, err
}

func (d *DB) newTableBuilder() (*tableBuilder, error) {
	num := d.nextFileNum.Add(1) - 1
	tmp := filepath.Join(d.dir, tableName(num)+".tmp")
	f, err := d.fs.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("create table: %w", err)
	}
	b := &tableBuilder{d: d, num: num, tmp: tmp, f: f}
	b.crc.w = f
	b.bw = bufio.NewWriterSize(&b.crc, 256<<10)
	c := sstable.SnappyCompression
	if d.opts.Compression == NoCompression {
		c = sstable.NoCompression
	}
	b.w = sstable.NewWriter(b.bw, sstable.WriterOptions{Compare: compareInternal, FilterKey: filterKey, Compression: c})
	return b, nil
}

func (b *tableBuilder) add(key, value []byte) error {
	if b.smallest == nil {
		b.smallest = append([]byte{}, key...)
	}
	b.largest = append(b.largest[:0], key...)
	return b.w.Add(key, value)
}

func (b *tableBuilder) size() uint64 { return b.w.EstimatedSize() }

func (b *tableBuilder) empty() bool { return b.smallest == nil }

// finish completes the table and returns its metadata.
func (b *tableBuilder) finish() (*fileMeta, error) {
	_, err := b.w.Close()
	if err == nil {
		err = b.bw.Flush()
	}
	if err == nil {
		err = b.f.Sync()
	}
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	final := filepath.Join(b.d.dir, tableName(b.num))
	if err == nil {
		err = b.d.fs.Rename(b.tmp, final)
	}
	if err == nil {
		err = syncDir(b.d.fs, b.d.dir)
	}
	if err != nil {
		b.d.fs.Remove(b.tmp)
		return nil, fmt.Errorf("write table %s: %w", tableName(b.num), err)
	}
	st, err := b.d.fs.Stat(final)
	if err != nil {
		return nil, fmt.Errorf("write table %s: %w", tableName(b.num), err)
	}
	return &fileMeta{num: b.num, size: uint64(st.Size()), smallest: b.smallest, largest: append([]byte{}, b.largest...),
		crc: b.crc.crc, hasCRC: true}, nil
}

// abandon removes a table that will not be finished.
func (b *tableBuilder) abandon() {
	b.f.Close()
	b.d.fs.Remove(b.tmp)
}

// writeLevel0 writes every entry of a memtable to a new table.
func (d *DB) writeLevel0(m *memtable) (*fileMeta, error) {
	b, err := d.newTableBuilder()
	if err != nil {
		return nil, err
	}
	it := m.newIter()
	for ok := it.First(); ok; ok = it.Next() {
		if err := b.add(it.Key(), it.Value()); err != nil {
			b.abandon()
			return nil, err
		}
	}
	return b.finish()
}

// flushLoop flushes immutable memtables, oldest first, one at a time.
//
// A flush that fails for lack of space is retried after a pause (see
// nospace.go); any other failure stops writes.
func (d *DB) flushLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.flushCh:
		}
		for {
			d.mu.Lock()
			if len(d.imm) == 0 || d.bgErr != nil {
				d.mu.Unlock()
				break
			}
			m := d.imm[0]
			d.mu.Unlock()
			err := d.flushMemtable(m)
			d.mu.Lock()
			switch {
			case err == nil:
				d.spaceRecoveredLocked(&d.space.flush)
			case isNoSpace(err) && d.bgErr == nil:
				// What it wrote was removed or taken back.
				delay := d.spaceFailedLocked(&d.space.flush, fmt.Errorf("flush: %w", err))
				d.opts.clock.AfterFunc(delay, d.wakeFlusher)
			default:
				d.setBGErrLocked(fmt.Errorf("flush: %w", err))
			}
			d.mu.Unlock()
			if err != nil {
				break
			}
		}
	}
}

// wakeFlusher makes the flush goroutine look for work.
func (d *DB) wakeFlusher() {
	select {
	case d.flushCh <- struct{}{}:
	default:
	}
}

// flushMemtable writes m, the oldest immutable memtable, to level 0, then
// records it in the manifest, then drops m and deletes its log. The order
// is what makes a crash at any point safe: until the manifest edit is
// synced the log is still there to replay.
func (d *DB) flushMemtable(m *memtable) error {
	meta, err := d.writeLevel0(m)
	if err != nil {
		return err
	}
	d.mu.Lock()
	next := d.mem.walNum
	if len(d.imm) > 1 {
		next = d.imm[1].walNum
	}
	d.mu.Unlock()
	e := &versionEdit{hasLogNum: true, logNum: next, added: []addedFile{{0, meta}}}
	err = d.logAndApply(e, func() {
		d.imm = d.imm[1:len(d.imm):len(d.imm)]
	})
	if err != nil {
		return err
	}
	d.stats.flushes.Add(1)
	d.log.Info("lsm: flushed memtable", "table", meta.num, "bytes", meta.size)
	d.removeFile(filepath.Join(d.walDir, walName(m.walNum)))
	d.mu.Lock()
	d.maybeScheduleCompactionLocked()
	d.cond.Broadcast()
	d.mu.Unlock()
	return nil
}

// removeFile deletes a file that is no longer needed. Failure only leaks
// space until the next Open cleans up, so it is logged, not returned.
func (d *DB) removeFile(path string) {
	if err := d.fs.Remove(path); err != nil && !isNotExist(err) {
		d.log.Warn("lsm: remove obsolete file", "file", path, "err", err)
	}
}

// deleteObsoleteTables removes tables no version refers to any more.
func (d *DB) deleteObsoleteTables(files []*fileMeta) {
	for _, f := range files {
		d.tc.evict(f.num)
		d.removeFile(filepath.Join(d.dir, tableName(f.num)))
	}
}

// logAndApply makes an edit durable in the manifest and installs the
// resulting version. install, if set, runs under d.mu in the same step, so
// readers see the new version and the caller's change together.
func (d *DB) logAndApply(e *versionEdit, install func()) error {
	d.manifestMu.Lock()
	defer d.manifestMu.Unlock()
	if !e.hasLogNum {
		e.hasLogNum, e.logNum = true, d.logNum
	}
	e.hasNextFileNum, e.nextFileNum = true, d.nextFileNum.Load()
	e.hasLastSeq, e.lastSeq = true, d.visibleSeq.Load()
	// The live log's synced size rides along, for free: a log cut below
	// it is refused at the next Open.
	d.walMu.Lock()
	num, synced := d.wal.num, d.walSynced
	d.walMu.Unlock()
	if i := slices.IndexFunc(d.logs, func(l liveLog) bool { return l.num == num }); i >= 0 &&
		num >= e.logNum && !d.logs[i].final && synced > d.logs[i].synced {
		e.syncedLogs = append(e.syncedLogs, logSynced{num: num, size: uint64(synced)})
	}
	logs, err := applyLogs(d.logs, e)
	if err != nil {
		return fmt.Errorf("apply version edit: %w", err)
	}
	d.mu.Lock()
	base := d.current
	d.mu.Unlock()
	nv, err := base.apply(e)
	if err != nil {
		return fmt.Errorf("apply version edit: %w", err)
	}
	d.pinFiles(nv)
	err = d.writeEditLocked(e, nv, logs)
	if err != nil {
		if isTakenBack(err) {
			// The edit is not in the manifest: the files only it names
			// (a flush's or compaction's new tables) are garbage.
			nv.unref()
			return err
		}
		// The edit may be in the manifest although the call failed (the
		// write went through, its fsync did not): keep every file it
		// names, so that the next Open finds what the manifest says.
		// Writes stop here; the next Open deletes what its manifest
		// does not name.
		return d.setBGErr(err)
	}
	d.logNum = e.logNum
	d.logs = logs
	d.mu.Lock()
	old := d.current
	d.current = nv
	if install != nil {
		install()
	}
	d.mu.Unlock()
	old.unref()
	return nil
}

// maxManifestSize is the size at which the manifest is rewritten as one
// snapshot edit in a new file.
const maxManifestSize = 16 << 20

// writeEditLocked makes edit e durable in the manifest, where nv and logs
// are the version and live logs with e applied: appended, or, once the
// manifest is large, as the first edit of a new one. d.manifestMu must
// be held.
func (d *DB) writeEditLocked(e *versionEdit, nv *version, logs []liveLog) error {
	if d.manifest.size >= maxManifestSize {
		return d.rotateManifest(nv, logs, e)
	}
	return d.manifest.append(e)
}

// rotateManifest writes nv and logs as the first edit of a new manifest
// and points CURRENT at it. d.manifestMu must be held.
func (d *DB) rotateManifest(nv *version, logs []liveLog, e *versionEdit) error {
	num := d.nextFileNum.Add(1) - 1
	first := d.firstEdit(nv, logs)
	first.hasLogNum, first.logNum = true, d.logNum
	if e.hasLogNum {
		first.logNum = e.logNum
	}
	first.hasNextFileNum, first.nextFileNum = true, d.nextFileNum.Load()
	first.hasLastSeq, first.lastSeq = true, max(e.lastSeq, d.visibleSeq.Load())
	m, err := createManifest(d.fs, d.dir, num, first)
	if err != nil {
		if errors.Is(err, errCurrentRenamed) {
			// CURRENT may name the new manifest now: keep it.
			return err
		}
		d.removeFile(filepath.Join(d.dir, manifestName(num)))
		if isNoSpace(err) {
			return &takenBackError{err}
		}
		return err
	}
	old := d.manifest
	d.manifest = m
	old.close()
	d.removeFile(filepath.Join(d.dir, manifestName(old.num)))
	return nil
}

// pinFiles gives a new version its reference and one reference on each of
// its files.
func (d *DB) pinFiles(v *version) {
	v.refs.Store(1)
	v.onZero = d.deleteObsoleteTables
	for _, files := range v.levels {
		for _, f := range files {
			f.refs.Add(1)
		}
	}
}
