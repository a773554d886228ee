package lsm

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// Leveled compaction.
//
// Level 0 holds flushed memtables, which may overlap; levels 1 to 6 hold
// files with disjoint key ranges, each level ten times the size target of
// the one above (level 1: Options.baseLevelSize). A level's score is its
// file count over the trigger (level 0) or its size over its target; the
// highest score of at least 1 is compacted: all of level 0, or one file of
// a deeper level chosen round-robin, merged with the overlapping files of
// the next level into new files of the next level.
//
// The picker and the bookkeeping run under d.mu; each compaction then runs
// in its own goroutine, at most Options.CompactionThreads at once. Two
// compactions never touch overlapping key ranges of a common level.
//
// A compaction keeps, for each user key, the newest entry and every entry
// that an open snapshot may still read, and drops a tombstone only when it
// is invisible to every snapshot and no deeper level may hold an older
// value of its key (the key's "base level"). The newest version always
// wins because compactions move whole key ranges down and never reorder
// versions of a key.

// compaction is one picked compaction.
type compaction struct {
	level    int            // input level; outputs go to level+1
	inputs   [2][]*fileMeta // files of level and level+1
	lo, hi   []byte         // user-key range of all inputs
	v        *version       // the version it was picked from (pinned)
	smallest uint64         // oldest sequence number a reader may need
}

func (c *compaction) outputLevel() int { return c.level + 1 }

// trivialMove reports a compaction that can move its single input file
// down without rewriting it.
func (c *compaction) trivialMove() bool {
	return c.level > 0 && len(c.inputs[0]) == 1 && len(c.inputs[1]) == 0
}

// maxBytesForLevel is the size target of a level >= 1.
func (d *DB) maxBytesForLevel(level int) uint64 {
	n := uint64(d.opts.baseLevelSize)
	for l := 1; l < level; l++ {
		n *= 10
	}
	return n
}

// conflicts reports whether touching [lo, hi] on level would meet a
// running compaction. d.mu must be held.
func (d *DB) conflictsLocked(level int, lo, hi []byte) bool {
	for _, c := range d.compacting {
		for l := c.level; l <= c.outputLevel(); l++ {
			if l != level {
				continue
			}
			if level == 0 || (bytes.Compare(lo, c.hi) <= 0 && bytes.Compare(c.lo, hi) <= 0) {
				return true
			}
		}
	}
	return false
}

// pickLocked returns a compaction to run, or nil. d.mu must be held.
func (d *DB) pickLocked() *compaction {
	v := d.current
	type cand struct {
		level int
		score float64
	}
	var cands []cand
	if n := len(v.levels[0]); n >= d.opts.l0CompactionTrigger {
		cands = append(cands, cand{0, float64(n) / float64(d.opts.l0CompactionTrigger)})
	}
	for level := 1; level < numLevels-1; level++ {
		s := float64(v.levelBytes(level)) / float64(d.maxBytesForLevel(level))
		if s >= 1 {
			cands = append(cands, cand{level, s})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	for _, cd := range cands {
		if c := d.pickLevelLocked(v, cd.level); c != nil {
			return c
		}
	}
	return nil
}

func (d *DB) pickLevelLocked(v *version, level int) *compaction {
	var candidates [][]*fileMeta
	if level == 0 {
		candidates = [][]*fileMeta{v.levels[0]}
	} else {
		// Round-robin: start after the last key compacted at this level.
		files := v.levels[level]
		start := sort.Search(len(files), func(i int) bool {
			return bytes.Compare(files[i].smallestUser(), d.compactPtr[level]) > 0
		})
		if d.compactPtr[level] == nil {
			start = 0
		}
		for i := range files {
			candidates = append(candidates, []*fileMeta{files[(start+i)%len(files)]})
		}
	}
	for _, in := range candidates {
		if len(in) == 0 || slices.ContainsFunc(in, func(f *fileMeta) bool { return f.compacting }) {
			continue
		}
		lo, hi := keyRange(in)
		next := v.overlapping(level+1, lo, hi)
		if slices.ContainsFunc(next, func(f *fileMeta) bool { return f.compacting }) {
			continue
		}
		if len(next) > 0 {
			l2, h2 := keyRange(next)
			if bytes.Compare(l2, lo) < 0 {
				lo = l2
			}
			if bytes.Compare(h2, hi) > 0 {
				hi = h2
			}
		}
		if d.conflictsLocked(level, lo, hi) || d.conflictsLocked(level+1, lo, hi) {
			continue
		}
		c := &compaction{level: level, inputs: [2][]*fileMeta{slices.Clone(in), next}, lo: lo, hi: hi, v: v}
		return c
	}
	return nil
}

func keyRange(files []*fileMeta) (lo, hi []byte) {
	for _, f := range files {
		if lo == nil || bytes.Compare(f.smallestUser(), lo) < 0 {
			lo = f.smallestUser()
		}
		if hi == nil || bytes.Compare(f.largestUser(), hi) > 0 {
			hi = f.largestUser()
		}
	}
	return lo, hi
}

// maybeScheduleCompactionLocked starts compactions while there is work
// and a free thread. d.mu must be held.
func (d *DB) maybeScheduleCompactionLocked() {
	for !d.closed && d.bgErr == nil && !d.opts.disableAutoCompaction &&
		len(d.compacting) < d.opts.CompactionThreads && d.ctx != nil && d.ctx.Err() == nil &&
		d.space.compact.due(d.opts.clock.Now()) {
		c := d.pickLocked()
		if c == nil {
			return
		}
		d.startLocked(c)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.runCompaction(c)
		}()
	}
}

// startLocked marks c's inputs busy and pins its version. d.mu must be held.
func (d *DB) startLocked(c *compaction) {
	for _, in := range c.inputs {
		for _, f := range in {
			f.compacting = true
		}
	}
	c.v.ref()
	c.smallest = d.visibleSeq.Load()
	if len(d.snaps) > 0 {
		c.smallest = d.snaps[0].seq
	}
	if c.level > 0 {
		d.compactPtr[c.level] = append([]byte{}, c.hi...)
	}
	d.compacting = append(d.compacting, c)
}

func (d *DB) runCompaction(c *compaction) {
	err := d.compact(c)
	d.mu.Lock()
	for _, in := range c.inputs {
		for _, f := range in {
			f.compacting = false
		}
	}
	d.compacting = slices.DeleteFunc(d.compacting, func(x *compaction) bool { return x == c })
	switch {
	case err == nil:
		d.spaceRecoveredLocked(&d.space.compact)
	case d.ctx.Err() != nil:
	case isNoSpace(err) && d.bgErr == nil:
		// What it wrote was removed or taken back: retry after a pause.
		delay := d.spaceFailedLocked(&d.space.compact, fmt.Errorf("compaction: %w", err))
		d.opts.clock.AfterFunc(delay, func() {
			d.mu.Lock()
			d.maybeScheduleCompactionLocked()
			d.mu.Unlock()
		})
	default:
		d.setBGErrLocked(fmt.Errorf("compaction: %w", err))
	}
	d.cond.Broadcast()
	d.maybeScheduleCompactionLocked()
	d.mu.Unlock()
	c.v.unref()
}

// compact runs c and installs its result.
func (d *DB) compact(c *compaction) error {
	e := &versionEdit{}
	for i, in := range c.inputs {
		for _, f := range in {
			e.deleted = append(e.deleted, deletedFile{c.level + i, f.num})
		}
	}
	if c.trivialMove() {
		e.added = append(e.added, addedFile{c.outputLevel(), c.inputs[0][0]})
		if err := d.logAndApply(e, nil); err != nil {
			return err
		}
		d.stats.compactions.Add(1)
		return nil
	}
	outputs, err := d.writeCompaction(c)
	if err != nil {
		return err
	}
	for _, f := range outputs {
		e.added = append(e.added, addedFile{c.outputLevel(), f})
	}
	if err := d.logAndApply(e, nil); err != nil {
		return err
	}
	d.stats.compactions.Add(1)
	for _, in := range c.inputs {
		for _, f := range in {
			d.stats.compactionRead.Add(f.size)
		}
	}
	for _, f := range outputs {
		d.stats.compactionWritten.Add(f.size)
	}
	d.log.Info("lsm: compacted", "level", c.level, "inputs", len(c.inputs[0])+len(c.inputs[1]), "outputs", len(outputs))
	return nil
}

// Sub-compactions. A level-0 compaction with random keys takes every
// file of level 1 (level-0 files span the whole key space), which makes
// one large merge. writeCompaction splits such a merge at boundaries
// between its level-1 inputs into up to CompactionThreads sub-ranges of
// about equal input size, merges them in parallel, each into tables of
// the target size, and installs all their outputs in one edit. The
// boundaries are level-1 files' smallest user keys; every version of a
// user key falls in one sub-range, because level-1 files never share a
// user key, so dropping older versions and tombstones works per
// sub-range exactly as in one merge.

// subcompactionBounds returns the user keys that split c's merge into
// sub-ranges: nil for one range.
func (d *DB) subcompactionBounds(c *compaction) [][]byte {
	if c.level != 0 || d.opts.CompactionThreads < 2 || len(c.inputs[1]) < 2 {
		return nil
	}
	var total uint64
	for _, in := range c.inputs {
		for _, f := range in {
			total += f.size
		}
	}
	// Each sub-range gets at least four output tables' worth of input.
	n := min(d.opts.CompactionThreads, len(c.inputs[1]), int(total/(4*uint64(d.opts.targetFileSize))))
	if n < 2 {
		return nil
	}
	// Cut at level-1 file boundaries once each range holds about
	// 1/n of level 1's bytes.
	var l1 uint64
	for _, f := range c.inputs[1] {
		l1 += f.size
	}
	var bounds [][]byte
	var acc uint64
	for i, f := range c.inputs[1] {
		if i > 0 && acc >= l1*uint64(len(bounds)+1)/uint64(n) {
			bounds = append(bounds, f.smallestUser())
		}
		acc += f.size
	}
	return bounds
}

// writeCompaction merges c's inputs into new tables, in sub-ranges run in
// parallel when the merge is large (subcompactionBounds). On failure it
// removes what it wrote.
func (d *DB) writeCompaction(c *compaction) ([]*fileMeta, error) {
	bounds := d.subcompactionBounds(c)
	if bounds == nil {
		return d.writeCompactionRange(c, nil, nil)
	}
	d.stats.subcompactions.Add(uint64(len(bounds) + 1))
	outs := make([][]*fileMeta, len(bounds)+1)
	errs := make([]error, len(bounds)+1)
	var wg sync.WaitGroup
	for i := range outs {
		var lo, hi []byte
		if i > 0 {
			lo = bounds[i-1]
		}
		if i < len(bounds) {
			hi = bounds[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = d.writeCompactionRange(c, lo, hi)
		}()
	}
	wg.Wait()
	var outputs []*fileMeta
	for _, o := range outs {
		outputs = append(outputs, o...)
	}
	if err := errors.Join(errs...); err != nil {
		for _, f := range outputs {
			d.removeFile(filepath.Join(d.dir, tableName(f.num)))
		}
		return nil, err
	}
	return outputs, nil
}

// writeCompactionRange merges the entries of c's inputs whose user keys
// lie in [lo, hi) (nil: unbounded) into new tables. On failure it removes
// what it wrote.
func (d *DB) writeCompactionRange(c *compaction, lo, hi []byte) (outputs []*fileMeta, err error) {
	var children []internalIterator
	defer func() {
		for _, ch := range children {
			ch.Close()
		}
		if err != nil {
			for _, f := range outputs {
				d.removeFile(filepath.Join(d.dir, tableName(f.num)))
			}
			outputs = nil
		}
	}()
	for _, f := range c.inputs[0] {
		if c.level == 0 {
			ti, err := d.tc.newIter(f.num)
			if err != nil {
				return nil, err
			}
			children = append(children, ti)
		}
	}
	if c.level > 0 {
		children = append(children, &levelIter{tc: d.tc, files: c.inputs[0]})
	}
	if len(c.inputs[1]) > 0 {
		children = append(children, &levelIter{tc: d.tc, files: c.inputs[1]})
	}
	it := newMergingIter(children)
	var b *tableBuilder
	var curKey []byte
	hasKey := false
	lastSeqForKey := uint64(0)
	n := 0
	ok := false
	if lo == nil {
		ok = it.First()
	} else {
		ok = it.SeekGE(appendInternalKey(nil, lo, maxSeq, kindMax))
	}
	for ; ok; ok = it.Next() {
		if n++; n%4096 == 0 && d.ctx.Err() != nil {
			if b != nil {
				b.abandon()
			}
			return outputs, ErrClosed
		}
		ik := it.Key()
		uk := userKey(ik)
		if hi != nil && bytes.Compare(uk, hi) >= 0 {
			break
		}
		t := trailerOf(ik)
		seq, k := t>>8, kind(t&0xff)
		newKey := !hasKey || !bytes.Equal(uk, curKey)
		if newKey {
			// Split outputs only between user keys, so the files of a
			// level never share a user key.
			if b != nil && b.size() >= uint64(d.opts.targetFileSize) {
				f, err := b.finish()
				if err != nil {
					return outputs, err
				}
				outputs = append(outputs, f)
				b = nil
			}
			curKey = append(curKey[:0], uk...)
			hasKey = true
			lastSeqForKey = maxSeq + 1
		}
		drop := false
		if lastSeqForKey <= c.smallest {
			// A newer entry of this key is visible to every reader.
			drop = true
		} else if k == kindDelete && seq <= c.smallest && d.isBaseLevelForKey(c, uk) {
			drop = true
		}
		lastSeqForKey = seq
		if drop {
			continue
		}
		if b == nil {
			if b, err = d.newTableBuilder(); err != nil {
				return outputs, err
			}
		}
		if err := b.add(ik, it.Value()); err != nil {
			b.abandon()
			return outputs, err
		}
	}
	if err := it.Err(); err != nil {
		if b != nil {
			b.abandon()
		}
		return outputs, err
	}
	if b != nil {
		f, err := b.finish()
		if err != nil {
			return outputs, err
		}
		outputs = append(outputs, f)
	}
	return outputs, nil
}

// isBaseLevelForKey reports whether no level below c's output may hold
// ukey.
func (d *DB) isBaseLevelForKey(c *compaction, ukey []byte) bool {
	for level := c.outputLevel() + 1; level < numLevels; level++ {
		files := c.v.levels[level]
		i := sort.Search(len(files), func(i int) bool {
			return bytes.Compare(files[i].largestUser(), ukey) >= 0
		})
		if i < len(files) && bytes.Compare(files[i].smallestUser(), ukey) <= 0 {
			return false
		}
	}
	return true
}
