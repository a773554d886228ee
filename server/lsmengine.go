package server

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"amaters-server/lsm"
)

// lsmEngine is the engine of storage.engine = "lsm" (on disk) and
// "memory" (the same engine on an in-memory file system, lost at exit).
type lsmEngine struct {
	db *lsm.DB
}

// tablesDir is where the LSM keeps its tables and manifest, inside the data
// folder (the WAL goes to storage.wal_dir).
func (c *Config) tablesDir() string { return filepath.Join(c.Server.DataDir, "db") }

func openLSM(c *Config, log *slog.Logger) (*lsmEngine, error) {
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
	db, err := lsm.Open(c.tablesDir(), opts)
	if err != nil {
		if errors.Is(err, lsm.ErrCorruption) {
			return nil, fmt.Errorf("storage in %s is damaged: %w. The server refuses to serve data it cannot verify: restore the data folder from a backup, or move it aside to start empty", c.Server.DataDir, err)
		}
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return &lsmEngine{db: db}, nil
}

func (e *lsmEngine) Get(key []byte) ([]byte, error) { return e.db.Get(key) }

func (e *lsmEngine) Apply(ops []op) error {
	var b lsm.Batch
	for _, o := range ops {
		if o.del {
			b.Delete(o.key)
		} else {
			b.Put(o.key, o.value)
		}
	}
	return e.db.Apply(&b)
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

func (e *lsmEngine) Flush() error { return e.db.Flush() }

func (e *lsmEngine) Close() error { return e.db.Close() }

func (e *lsmEngine) Stats() engineStats {
	m := e.db.Metrics()
	st := engineStats{
		SizeBytes:   m.DiskBytes,
		Flushes:     m.Flushes,
		Compactions: m.Compactions,
		WALSyncs:    m.WALSyncs,
		WriteStalls: m.WriteStalls,
		Err:         m.Err,
		Levels:      make([]levelStats, len(m.Levels)),
	}
	for i, l := range m.Levels {
		st.Levels[i] = levelStats{Files: int64(l.Files), Bytes: l.Bytes}
	}
	return st
}
