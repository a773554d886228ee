package lsm

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"slices"
	"time"

	"amaters-server/lsm/internal/sstable"
)

// Scrubbing and damage reports.
//
// Open checks each table's footer, index and bounds, not its data
// blocks: those are checked as reads meet them. The scrubber
// (Options.ScrubInterval) re-reads every live table in the background at
// a bounded rate (Options.ScrubRate), so that damage in data nobody reads
// is found too: a table whose whole-file CRC-32C the manifest recorded is
// read once, sequentially, and compared; any other (a table carried over
// from release 0.2), or one whose checksum differs, is read block by
// block so that the damage is located. Reads go to the file, never to the
// block cache.
//
// Every corruption found, by the scrubber or by any read (Get, an
// iterator, a compaction), adds one to Metrics.Corruptions, and the first
// one found in each file stays reported by DB.Damage until the database
// is reopened.

// defaultScrubRate is the scrubber's read rate when Options.ScrubRate is
// zero, in bytes per second.
const defaultScrubRate = 8 << 20

// scrubSlice is how much the scrubber reads between two waits.
const scrubSlice = 256 << 10

// noteCorruption counts a corruption found by a read, a compaction or the
// scrubber, and keeps the first one found in each file for Damage.
func (d *DB) noteCorruption(err error) {
	d.stats.corruptions.Add(1)
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		return
	}
	d.damageMu.Lock()
	if _, ok := d.damage[ce.File]; !ok {
		d.damage[ce.File] = err
	}
	d.damageMu.Unlock()
}

// Damage returns the damage found in the database's files since Open, by
// reads, compactions and the scrubber: the first corruption found in each
// damaged file (*CorruptionError, joined, in file name order), or nil.
// It is sticky until the database is reopened (and Open checks again).
// A server reports it as unhealthy; restoring the file from a backup is
// the way out.
func (d *DB) Damage() error {
	d.damageMu.Lock()
	defer d.damageMu.Unlock()
	files := make([]string, 0, len(d.damage))
	for f := range d.damage {
		files = append(files, f)
	}
	slices.Sort(files)
	errs := make([]error, len(files))
	for i, f := range files {
		errs[i] = d.damage[f]
	}
	return errors.Join(errs...)
}

// waitTimer waits for d or until ctx is done: the scrubber's clock,
// replaced in tests (Options.scrubWait).
func waitTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// scrubLoop is the scrubber goroutine: a pass over every live table
// every ScrubInterval (the pause between the end of a pass and the start
// of the next). Close stops it.
func (d *DB) scrubLoop() {
	defer d.wg.Done()
	for {
		if err := d.opts.scrubWait(d.ctx, d.opts.ScrubInterval); err != nil {
			return
		}
		if err := d.scrubPass(d.ctx); err != nil {
			return
		}
		d.stats.scrubPasses.Add(1)
	}
}

// scrubPass verifies every table of the current version that is still
// live when its turn comes. It returns only ctx's error.
func (d *DB) scrubPass(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	var files []*fileMeta
	for _, level := range d.current.levels {
		files = append(files, level...)
	}
	d.mu.Unlock()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := d.scrubTable(ctx, f)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case !d.isLive(f.num):
			// Compacted away meanwhile: nothing to report.
		case errors.Is(err, ErrCorruption):
			d.log.Error("lsm: scrubber found a damaged table; restore the database from a backup", "err", err)
		default:
			d.log.Warn("lsm: scrubber could not read a table", "table", tableName(f.num), "err", err)
		}
	}
	return nil
}

// isLive reports whether table num is in the current version.
func (d *DB) isLive(num uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, level := range d.current.levels {
		if slices.ContainsFunc(level, func(f *fileMeta) bool { return f.num == num }) {
			return true
		}
	}
	return false
}

// scrubTable verifies one table, reading it at the scrubber's rate. The
// open table holds its file, so a compaction may delete it meanwhile.
// Damage found is reported to noteCorruption (the table cache reports
// what it finds opening the table itself).
func (d *DB) scrubTable(ctx context.Context, f *fileMeta) error {
	if !d.isLive(f.num) {
		return nil
	}
	t, err := d.tc.get(f.num)
	if err != nil {
		return err
	}
	defer t.unref()
	path := filepath.Join(d.dir, tableName(f.num))
	pr := &pacedReader{r: t.f, ctx: ctx, wait: d.opts.scrubWait, rate: d.opts.ScrubRate, read: &d.stats.scrubBytes}
	_, err = verifyTable(path, pr, int64(f.size), f, false)
	if perr := pr.flush(); err == nil {
		err = perr
	}
	if errors.Is(err, ErrCorruption) && ctx.Err() == nil && d.isLive(f.num) {
		d.noteCorruption(err)
	}
	return err
}

// pacedReader reads from r and waits, after every scrubSlice bytes, as
// long as reading them takes at rate bytes per second: the read rate
// stays below rate whatever the disk.
type pacedReader struct {
	r    io.ReaderAt
	ctx  context.Context
	wait func(context.Context, time.Duration) error
	rate int64
	owed int64 // bytes read and not yet waited for
	read interface{ Add(uint64) uint64 }
}

func (p *pacedReader) ReadAt(b []byte, off int64) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.ReadAt(b, off)
	p.owed += int64(n)
	p.read.Add(uint64(n))
	if p.owed >= scrubSlice {
		if werr := p.flush(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// flush waits for the bytes read since the last wait.
func (p *pacedReader) flush() error {
	if p.owed == 0 {
		return nil
	}
	d := time.Duration(float64(p.owed) / float64(p.rate) * float64(time.Second))
	p.owed = 0
	return p.wait(p.ctx, d)
}

// verifyTable reads a whole table through r, which holds size bytes:
// with wantEntries or without a recorded checksum, every block (each
// checksum, key order, the recorded bounds, the entry count); and the
// whole-file CRC-32C when the manifest recorded one. Without wantEntries
// a matching whole-file checksum is enough, and the blocks are read only
// to locate the damage when it does not match. It returns the number of
// entries read (0 when they were not).
func verifyTable(path string, r io.ReaderAt, size int64, f *fileMeta, wantEntries bool) (uint64, error) {
	crcOK := false
	if f.hasCRC {
		crc, err := fileCRC(r, size)
		if err != nil {
			return 0, fmt.Errorf("read table %s: %w", path, err)
		}
		crcOK = crc == f.crc
		if crcOK && !wantEntries {
			return 0, nil
		}
	}
	rd, err := sstable.NewReader(r, size, sstable.ReaderOptions{Compare: compareInternal, FilterKey: filterKey})
	if err != nil {
		return 0, corruptionFrom(path, err)
	}
	it := rd.NewIter()
	defer it.Release()
	var n uint64
	var first, prev []byte
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < trailerLen {
			return n, corruptf(path, -1, "entry %d: key of %d bytes is shorter than its trailer", n, len(k))
		}
		if prev != nil && compareInternal(prev, k) >= 0 {
			return n, corruptf(path, -1, "entry %d: key %s does not follow %s", n, fmtKey(k), fmtKey(prev))
		}
		if first == nil {
			first = append([]byte{}, k...)
		}
		prev = append(prev[:0], k...)
		n++
	}
	if err := it.Err(); err != nil {
		return n, corruptionFrom(path, err)
	}
	if err := checkTableBounds(path, f, first, prev); err != nil {
		return n, err
	}
	if p := rd.Properties(); p.NumEntries != n {
		return n, corruptf(path, -1, "%d entries, the table's properties say %d", n, p.NumEntries)
	}
	if f.hasCRC && !crcOK {
		return n, corruptf(path, -1, "every block checks, but the whole-file checksum is not the one the manifest recorded (%08x): the table was rewritten", f.crc)
	}
	return n, nil
}

// fileCRC returns the CRC-32C of r's first size bytes.
func fileCRC(r io.ReaderAt, size int64) (uint32, error) {
	buf := make([]byte, min(size, scrubSlice))
	var crc uint32
	for off := int64(0); off < size; {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		crc = crc32.Update(crc, crcTable, buf[:n])
		off += int64(n)
		if err != nil && (!errors.Is(err, io.EOF) || off < size) {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("file ends at %d of %d bytes", off, size)
			}
			return 0, err
		}
	}
	return crc, nil
}
