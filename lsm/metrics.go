package lsm

import "time"

// Metrics is a point-in-time report of a DB's activity and shape, for the
// server's gauges and counters. Counters count since Open.
type Metrics struct {
	Flushes     uint64 // memtables written to level 0
	Compactions uint64 // compactions finished, trivial moves included
	// Subcompactions counts the key ranges of level-0 compactions that
	// were split to run in parallel (see writeCompaction).
	Subcompactions uint64
	// CompactionsRunning is the number of compactions in progress, and
	// CompactionBytesRead and CompactionBytesWritten the table bytes
	// merged and written by finished compactions (trivial moves, which
	// rewrite nothing, excluded).
	CompactionsRunning     int
	CompactionBytesRead    uint64
	CompactionBytesWritten uint64
	// CompactionDebt estimates the bytes compactions have yet to merge to
	// bring every level within its target: all of level 0 once it has
	// reached its compaction trigger, and for each deeper level what it
	// holds beyond its target.
	CompactionDebt int64
	WALSyncs       uint64 // fsyncs of the write-ahead log
	// WriteStalls counts the times writes waited on the write path: for a
	// flush or compaction, or for a memtable switch that took over 1 ms;
	// WriteStallTime is their total duration.
	WriteStalls    uint64
	WriteStallTime time.Duration
	// TornWALTails counts torn log tails cut during recovery at Open.
	TornWALTails uint64
	// Corruptions counts the corruptions found since Open: by reads (Get,
	// iterators, compactions) and by the scrubber, one per failed read or
	// per damaged table per scrub pass. DB.Damage names the files.
	Corruptions uint64
	// ScrubPasses counts the scrubber's finished passes over every table,
	// and ScrubbedBytes the bytes it read.
	ScrubPasses   uint64
	ScrubbedBytes uint64
	// LostFoundFiles is the number of files in the lost+found folder of
	// the database folder after Open: files the manifest did not list and
	// that were not provably obsolete, moved aside by this Open
	// (MovedToLostFound of them) or an earlier one. They are not needed
	// to serve the database; an operator inspects and removes them.
	LostFoundFiles   int
	MovedToLostFound uint64

	Levels [numLevels]LevelMetrics // per level, 0 to 6

	MemtableBytes int64 // bytes held by the mutable and immutable memtables
	// MemtableAllocBytes is the memory the memtables' arenas allocated
	// (they grow in chunks as entries arrive).
	MemtableAllocBytes int64
	TableBytes         int64 // bytes of all live SSTables
	WALBytes           int64 // bytes of the current write-ahead log
	DiskBytes          int64 // TableBytes + WALBytes + manifest

	BlockCacheHits      uint64
	BlockCacheMisses    uint64
	BlockCacheBytes     int64
	BlockCacheEvictions uint64

	// Err is the error that stopped writes for good (ErrWritesStopped),
	// or else the disk-full condition writes are failing with until space
	// is freed (see nospace.go), or nil.
	Err error
}

// LevelMetrics describe one level.
type LevelMetrics struct {
	Files int
	Bytes int64
}

// Metrics returns the current metrics. It is cheap enough to call on every
// scrape.
func (d *DB) Metrics() Metrics {
	m := Metrics{
		Flushes:                d.stats.flushes.Load(),
		Compactions:            d.stats.compactions.Load(),
		Subcompactions:         d.stats.subcompactions.Load(),
		CompactionBytesRead:    d.stats.compactionRead.Load(),
		CompactionBytesWritten: d.stats.compactionWritten.Load(),
		WALSyncs:               d.stats.walSyncs.Load(),
		WriteStalls:            d.stats.writeStalls.Load(),
		WriteStallTime:         time.Duration(d.stats.stallNanos.Load()),
		TornWALTails:           d.stats.tornTails.Load(),
		Corruptions:            d.stats.corruptions.Load(),
		ScrubPasses:            d.stats.scrubPasses.Load(),
		ScrubbedBytes:          d.stats.scrubBytes.Load(),
		LostFoundFiles:         int(d.lostFound.Load()),
		MovedToLostFound:       d.stats.movedToLostFound.Load(),
	}
	d.mu.Lock()
	v := d.current
	v.ref()
	m.MemtableBytes, m.MemtableAllocBytes = d.mem.size(), d.mem.sl.alloc.Load()
	for _, im := range d.imm {
		m.MemtableBytes += im.size()
		m.MemtableAllocBytes += im.sl.alloc.Load()
	}
	m.CompactionsRunning = len(d.compacting)
	m.Err = d.bgErr
	if m.Err == nil {
		m.Err = d.spaceErrLocked()
	}
	d.mu.Unlock()
	for level, files := range v.levels {
		m.Levels[level].Files = len(files)
		for _, f := range files {
			m.Levels[level].Bytes += int64(f.size)
		}
		m.TableBytes += m.Levels[level].Bytes
		switch {
		case level == 0 && len(files) >= d.opts.l0CompactionTrigger:
			m.CompactionDebt += m.Levels[0].Bytes
		case level > 0 && level < numLevels-1:
			m.CompactionDebt += max(0, m.Levels[level].Bytes-int64(d.maxBytesForLevel(level)))
		}
	}
	v.unref()
	d.walMu.Lock()
	m.WALBytes = d.wal.w.Offset()
	d.walMu.Unlock()
	d.manifestMu.Lock()
	manifest := d.manifest.size
	d.manifestMu.Unlock()
	m.DiskBytes = m.TableBytes + m.WALBytes + manifest
	if d.bc != nil {
		st := d.bc.c.Stats()
		m.BlockCacheHits, m.BlockCacheMisses, m.BlockCacheEvictions = st.Hits, st.Misses, st.Evictions
		m.BlockCacheBytes = d.bc.c.Cost()
	}
	return m
}
