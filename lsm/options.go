package lsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SyncMode says when writes are made durable with fsync.
type SyncMode int

const (
	// SyncAlways fsyncs the write-ahead log before a write returns.
	// Concurrent writers share one write and one fsync (group commit).
	// This is the zero value and the default.
	SyncAlways SyncMode = iota
	// SyncInterval fsyncs the log every Options.SyncInterval in the
	// background: a power cut loses at most that much acknowledged data;
	// a process crash loses nothing.
	SyncInterval
	// SyncNone leaves syncing to the operating system, except at memtable
	// switches, Flush and Close.
	SyncNone
)

// Compression says how new tables store their data blocks. Tables
// written either way, and tables of releases before compression, read
// the same: every block records how it is stored.
type Compression int

const (
	// SnappyCompression compresses each data block with Snappy (the
	// in-house lsm/internal/snappy) when that saves at least an eighth
	// of it, as LevelDB does; other blocks are stored as they are. This
	// is the zero value and the default.
	SnappyCompression Compression = iota
	// NoCompression stores every block as it is.
	NoCompression
)

func (c Compression) String() string {
	switch c {
	case SnappyCompression:
		return "snappy"
	case NoCompression:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Options configure a DB. The zero value consists entirely of defaults.
type Options struct {
	// MemtableSize is the size in bytes at which the memtable is switched
	// and flushed to an SSTable; 0 means 4 MiB. At most two memtables
	// exist at once; writes stall while both are full.
	MemtableSize int64
	// BlockCacheSize is the size in bytes of the SSTable block cache, which
	// holds data blocks and the tables' index and filter blocks; 0 means 8
	// MiB. Negative means no cache: each open table then keeps its index
	// and filter in memory.
	BlockCacheSize int64
	// CompactionThreads is the number of compactions that may run at
	// once; 0 means 1.
	CompactionThreads int
	// Sync is the durability mode; the zero value is SyncAlways.
	Sync SyncMode
	// SyncInterval is the fsync period for SyncInterval; 0 means 100 ms.
	SyncInterval time.Duration
	// WALDir holds the write-ahead logs; "" means the DB directory.
	WALDir string
	// Logger receives background events (flushes, compactions, recovery
	// of a torn log tail, failures); nil discards them.
	Logger *slog.Logger
	// FS holds the files; nil means the operating system's file system.
	FS FS
	// ScrubInterval, when positive, starts a background scrubber that
	// re-reads every table and verifies every block (see DB.Damage),
	// pausing ScrubInterval between the end of one pass and the start of
	// the next; 0 means no scrubbing.
	ScrubInterval time.Duration
	// ScrubRate bounds the scrubber's reads, in bytes per second; 0 means
	// 8 MiB/s.
	ScrubRate int64
	// Compression is how new tables store their data blocks; the zero
	// value is SnappyCompression.
	Compression Compression

	// The fields below are tuning knobs for tests; zero means default.

	// l0CompactionTrigger is the number of level-0 files that starts a
	// compaction (default 4).
	l0CompactionTrigger int
	// l0StopWrites is the number of level-0 files at which writes stall
	// (default 12).
	l0StopWrites int
	// targetFileSize is the size of compaction outputs (default
	// MemtableSize, at least 16 KiB).
	targetFileSize int64
	// baseLevelSize is the size target of level 1 (default 10 ×
	// MemtableSize); each deeper level is 10 times larger.
	baseLevelSize int64
	// disableAutoCompaction stops background compactions (tests).
	disableAutoCompaction bool
	// scrubWait waits for a duration or until the context is done: the
	// scrubber's pauses between passes and its pacing (default: a timer).
	scrubWait func(ctx context.Context, d time.Duration) error
	// clock times the retries of work short of disk space (default: the
	// wall clock; see nospace.go).
	clock clock
}

func (o Options) withDefaults() Options {
	if o.MemtableSize == 0 {
		o.MemtableSize = 4 << 20
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = 8 << 20
	}
	if o.CompactionThreads == 0 {
		o.CompactionThreads = 1
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = osFS{}
	}
	if o.ScrubRate == 0 {
		o.ScrubRate = defaultScrubRate
	}
	if o.clock == nil {
		o.clock = wallClock{}
	}
	if o.scrubWait == nil {
		o.scrubWait = waitTimer
	}
	if o.l0CompactionTrigger == 0 {
		o.l0CompactionTrigger = 4
	}
	if o.l0StopWrites == 0 {
		o.l0StopWrites = 3 * o.l0CompactionTrigger
	}
	if o.targetFileSize == 0 {
		o.targetFileSize = max(o.MemtableSize, 16<<10)
	}
	if o.baseLevelSize == 0 {
		o.baseLevelSize = 10 * o.MemtableSize
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.MemtableSize < 4<<10 {
		errs = append(errs, fmt.Errorf("MemtableSize %d is below the 4 KiB minimum", o.MemtableSize))
	}
	if o.MemtableSize > 1<<32 {
		errs = append(errs, fmt.Errorf("MemtableSize %d is above the 4 GiB maximum", o.MemtableSize))
	}
	if o.CompactionThreads < 0 {
		errs = append(errs, fmt.Errorf("CompactionThreads %d is negative", o.CompactionThreads))
	}
	if o.Sync < SyncAlways || o.Sync > SyncNone {
		errs = append(errs, fmt.Errorf("unknown Sync mode %d", int(o.Sync)))
	}
	if o.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("SyncInterval %v is negative", o.SyncInterval))
	}
	if o.ScrubInterval < 0 {
		errs = append(errs, fmt.Errorf("ScrubInterval %v is negative", o.ScrubInterval))
	}
	if o.Compression < SnappyCompression || o.Compression > NoCompression {
		errs = append(errs, fmt.Errorf("unknown Compression %d", int(o.Compression)))
	}
	if o.ScrubRate < 0 {
		errs = append(errs, fmt.Errorf("ScrubRate %d is negative", o.ScrubRate))
	}
	return errors.Join(errs...)
}
