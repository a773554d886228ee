package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"amaters-server/lsm"
	"amaters-server/server/config"
)

// lsmEngine is the Engine of storage.engine = "lsm" (on disk) and
// "memory" (the same engine on an in-memory file system, lost at exit).
type lsmEngine struct {
	db  *lsm.DB
	log *slog.Logger
	// batches pools the lsm.Batch of Apply (it copies keys and values,
	// so a batch is free again once Apply returns).
	batches sync.Pool
}

// tablesDir is where the LSM keeps its tables and manifest, inside the data
// folder (the WAL goes to storage.wal_dir).
func tablesDir(c *config.Config) string { return filepath.Join(c.Server.DataDir, "db") }

// openLSM opens the engine storage.engine names; it is what Run uses when
// Options.OpenEngine is nil. Opening replays the write-ahead log, which ctx
// does not interrupt.
func openLSM(_ context.Context, c config.Config, log *slog.Logger) (Engine, error) {
	opts := lsm.Options{
		MemtableSize:      c.Storage.MemtableSizeMB << 20,
		BlockCacheSize:    c.Storage.CacheSizeMB << 20,
		CompactionThreads: int(c.Storage.CompactionThreads),
		SyncInterval:      c.Storage.SyncInterval,
		WALDir:            c.WALDir(),
		Logger:            log,
	}
	switch c.Storage.Sync {
	case "always":
		opts.Sync = lsm.SyncAlways
	case "interval":
		opts.Sync = lsm.SyncInterval
	case "none":
		opts.Sync = lsm.SyncNone
	}
	if c.Storage.Engine == "memory" {
		opts.FS = lsm.NewMemFS()
	}
	db, err := lsm.Open(tablesDir(&c), opts)
	if err != nil {
		if errors.Is(err, lsm.ErrCorruption) {
			return nil, fmt.Errorf("storage in %s is damaged: %w. The server refuses to serve data it cannot verify: restore the data folder from a backup, or move it aside to start empty", c.Server.DataDir, err)
		}
		if isNoSpace(err) {
			return nil, fmt.Errorf("open storage: the disk is full (%w). Starting replays the write-ahead log into a table, which needs room: free space where %s and its log live, then start again; nothing acknowledged is lost", err, c.Server.DataDir)
		}
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return &lsmEngine{db: db, log: log}, nil
}

func (e *lsmEngine) Get(key []byte) ([]byte, error) { return e.db.Get(key) }

func (e *lsmEngine) Apply(ops []Op) error {
	b, _ := e.batches.Get().(*lsm.Batch)
	if b == nil {
		b = new(lsm.Batch)
	}
	size := 0
	for _, o := range ops {
		size += len(o.Key) + len(o.Value)
	}
	defer e.putBatch(b, size)
	for _, o := range ops {
		if o.Delete {
			b.Delete(o.Key)
		} else {
			b.Put(o.Key, o.Value)
		}
	}
	return e.db.Apply(b)
}

// putBatch returns a batch that held size bytes of keys and values to the
// pool for the next Apply, unless it grew large (a big value or batch
// request), so that the pool holds small batches only.
func (e *lsmEngine) putBatch(b *lsm.Batch, size int) {
	if size <= 64<<10 {
		b.Reset()
		e.batches.Put(b)
	}
}

func (e *lsmEngine) Scan(lo, hi []byte, fn func(key, value []byte) bool) error {
	it := e.db.NewIterator(lo, hi)
	for it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Close()
}

func (e *lsmEngine) Checkpoint() (Checkpoint, error) {
	cp, err := e.db.Checkpoint()
	if err != nil {
		return nil, err
	}
	return cp, nil
}

func (e *lsmEngine) Stats() EngineStats {
	m := e.db.Metrics()
	st := EngineStats{
		SizeBytes:    m.DiskBytes,
		Flushes:      m.Flushes,
		Compactions:  m.Compactions,
		WALSyncs:     m.WALSyncs,
		WriteStalls:  m.WriteStalls,
		StallSeconds: m.StallSeconds,
		Err:          m.Err,
		Levels:       make([]LevelStats, len(m.Levels)),
	}
	for i, l := range m.Levels {
		st.Levels[i] = LevelStats{Files: int64(l.Files), Bytes: l.Bytes}
	}
	return st
}

// Close flushes the memtable to a table, then closes the database (which
// syncs and closes the log). The flush comes first, on its own, to tell a
// full disk, which loses nothing (the log keeps every acknowledged write,
// and the next start replays it), from a failure.
func (e *lsmEngine) Close() error {
	var err error
	if ferr := e.db.Flush(); ferr != nil {
		if isNoSpace(ferr) {
			e.log.Warn("memtable not flushed at shutdown: the disk is full; the write-ahead log keeps every acknowledged write",
				slog.String("error", ferr.Error()))
		} else {
			err = fmt.Errorf("flush: %w", ferr)
		}
	}
	return errors.Join(err, e.db.Close())
}
