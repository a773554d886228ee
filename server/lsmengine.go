package server

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"amaters-server/lsm"
	"amaters-server/server/config"
)

// lsmEngine is the engine of storage.engine = "lsm" (on disk) and
// "memory" (the same engine on an in-memory file system, lost at exit).
type lsmEngine struct {
	db *lsm.DB
	// backup is held from Checkpoint until that checkpoint is closed.
	backup sync.Mutex
	// batches pools the lsm.Batch of Apply (it copies keys and values,
	// so a batch is free again once Apply returns).
	batches sync.Pool
}

// tablesDir is where the LSM keeps its tables and manifest, inside the data
// folder (the WAL goes to storage.wal_dir).
func tablesDir(c *config.Config) string { return filepath.Join(c.Server.DataDir, "db") }

func openLSM(c *config.Config, log *slog.Logger) (*lsmEngine, error) {
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
	db, err := lsm.Open(tablesDir(c), opts)
	if err != nil {
		if errors.Is(err, lsm.ErrCorruption) {
			return nil, fmt.Errorf("storage in %s is damaged: %w. The server refuses to serve data it cannot verify: restore the data folder from a backup, or move it aside to start empty", c.Server.DataDir, err)
		}
		if isNoSpace(err) {
			return nil, fmt.Errorf("open storage: the disk is full (%w). Starting replays the write-ahead log into a table, which needs room: free space where %s and its log live, then start again; nothing acknowledged is lost", err, c.Server.DataDir)
		}
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return &lsmEngine{db: db}, nil
}

func (e *lsmEngine) Get(key []byte) ([]byte, error) { return e.db.Get(key) }

func (e *lsmEngine) Apply(ops []op) error {
	b, _ := e.batches.Get().(*lsm.Batch)
	if b == nil {
		b = new(lsm.Batch)
	}
	size := 0
	for _, o := range ops {
		size += len(o.key) + len(o.value)
	}
	defer e.putBatch(b, size)
	for _, o := range ops {
		if o.del {
			b.Delete(o.key)
		} else {
			b.Put(o.key, o.value)
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

func (e *lsmEngine) Checkpoint() (*checkpoint, error) {
	if !e.backup.TryLock() {
		return nil, errBackupRunning
	}
	cp, err := e.db.Checkpoint()
	if err != nil {
		e.backup.Unlock()
		return nil, err
	}
	return &checkpoint{Checkpoint: cp, release: e.backup.Unlock}, nil
}

// checkpoint is an open lsm checkpoint that lets the next one be taken
// once it is closed.
type checkpoint struct {
	*lsm.Checkpoint
	release func() // nil once closed
}

// Close closes the checkpoint and releases the engine's one-backup slot.
// It is idempotent; it is not safe for concurrent use.
func (c *checkpoint) Close() error {
	if c.release == nil {
		return nil
	}
	err := c.Checkpoint.Close()
	c.release()
	c.release = nil
	return err
}
