package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/config"
	"amaters-server/server/store"
)

// lsmEngine is the Engine of storage.engine = "lsm" (on disk) and
// "memory" (the same engine on an in-memory file system, lost at exit): a
// store.Store on an lsm.DB, whose group commit evaluates guards in the
// apply and whose background goroutine expires keys.
type lsmEngine struct {
	db  *lsm.DB
	st  *store.Store
	log *slog.Logger
	dir string // the table folder
}

// tablesDir is where the LSM keeps its tables and manifest, inside the data
// folder (the WAL goes to storage.wal_dir).
func tablesDir(c *config.Config) string { return filepath.Join(c.Server.DataDir, "db") }

// openLSM opens the engine storage.engine names; it is what Run uses when
// Options.OpenEngine is nil. Opening replays the write-ahead log and
// upgrades a 0.2 folder (server/store), which ctx does not interrupt. now
// is the clock of expiry.
func openLSM(_ context.Context, c config.Config, log *slog.Logger, now func() time.Time, onCommit func([]store.Event)) (Engine, error) {
	opts := lsm.Options{
		MemtableSize:      c.Storage.MemtableSizeMB << 20,
		BlockCacheSize:    c.Storage.CacheSizeMB << 20,
		CompactionThreads: int(c.Storage.CompactionThreads),
		SyncInterval:      c.Storage.SyncInterval,
		WALDir:            c.WALDir(),
		ScrubInterval:     c.Storage.ScrubInterval,
		Compression:       lsm.SnappyCompression,
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
	if c.Storage.Compression == "none" {
		opts.Compression = lsm.NoCompression
	}
	if c.Storage.Engine == "memory" {
		opts.FS = lsm.NewMemFS()
	}
	db, err := lsm.Open(tablesDir(&c), opts)
	if err != nil {
		if foreignWALDir(err, c.WALDir()) {
			return nil, fmt.Errorf("storage.wal_dir %s is not this database's log folder: %w. The log folder was not touched. "+
				"Start %s with a log folder of its own (--wal-dir, or storage.wal_dir), never another database's (README: Storage integrity)",
				c.WALDir(), err, c.Server.DataDir)
		}
		if errors.Is(err, lsm.ErrCorruption) {
			return nil, fmt.Errorf("storage in %s is damaged: %w. The server refuses to serve data it cannot verify. "+
				"List all the damage with `%s`; then restore the last good backup into a new folder "+
				"(amaters-server restore --from BACKUP --data-dir NEW) and start on it with a wal_dir of its own "+
				"(`amaters-server start%s --data-dir NEW --wal-dir NEW/wal`), or move %s aside to start empty (README: Storage integrity)",
				c.Server.DataDir, err, CheckCommand(&c), configFlag(&c), c.Server.DataDir)
		}
		if errors.Is(err, lsm.ErrLocked) {
			return nil, fmt.Errorf("open storage: %w (storage.wal_dir %s)", err, c.WALDir())
		}
		if isNoSpace(err) {
			return nil, fmt.Errorf("open storage: the disk is full (%w). Starting replays the write-ahead log into a table, which needs room: free space where %s and its log live, then start again; nothing acknowledged is lost", err, c.Server.DataDir)
		}
		return nil, fmt.Errorf("open storage: %w", err)
	}
	st, err := store.Open(db, store.Options{Now: now, Logger: log, HistoryRevisions: uint64(c.Watch.HistoryRevisions), OnCommit: onCommit})
	if err != nil {
		db.Close()
		switch {
		case errors.Is(err, store.ErrNewerFormat):
			return nil, fmt.Errorf("the data folder %s was written by a newer amaters-server (%w); run that version, or restore a backup made for this one", c.Server.DataDir, err)
		case errors.Is(err, store.ErrCorruption):
			return nil, fmt.Errorf("storage in %s is damaged: %w. The server refuses to serve data it cannot verify. "+
				"List all the damage with `%s`; then restore the last good backup into a new folder "+
				"(amaters-server restore --from BACKUP --data-dir NEW) and start on it with a wal_dir of its own "+
				"(`amaters-server start%s --data-dir NEW --wal-dir NEW/wal`), or move %s aside to start empty (README: Storage integrity)",
				c.Server.DataDir, err, CheckCommand(&c), configFlag(&c), c.Server.DataDir)
		}
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return &lsmEngine{db: db, st: st, log: log, dir: tablesDir(&c)}, nil
}

func (e *lsmEngine) Write(ctx context.Context, req store.Request) (store.Result, error) {
	return e.st.Write(ctx, req)
}

func (e *lsmEngine) Get(c string, key []byte, now time.Time) (store.Entry, uint64, error) {
	return e.st.Get(c, key, now)
}

func (e *lsmEngine) Range(c string, start, end []byte, limit, maxBytes int, now time.Time) ([]store.Item, bool, []byte, uint64, error) {
	return e.st.Range(c, start, end, limit, maxBytes, now)
}

// History and Revision make the engine a watch.Source: the change feed
// reads the store's on-disk history.
func (e *lsmEngine) History(from uint64, fn func(store.Event) bool) (uint64, error) {
	return e.st.History(from, fn)
}

func (e *lsmEngine) Revision() uint64 { return e.st.Revision() }

func (e *lsmEngine) Collections(after string, limit int, now time.Time, allow func(string) bool) ([]string, bool, error) {
	return e.st.Collections(after, limit, now, allow)
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
		StallSeconds: m.WriteStallTime.Seconds(),
		Memory: EngineMemory{
			MemtableBytes:   m.MemtableAllocBytes,
			BlockCacheBytes: m.BlockCacheBytes,
		},
		CompactionsRunning:     int64(m.CompactionsRunning),
		CompactionBytesRead:    m.CompactionBytesRead,
		CompactionBytesWritten: m.CompactionBytesWritten,
		CompactionDebt:         m.CompactionDebt,
		Err:                    m.Err,
		Levels:                 make([]LevelStats, len(m.Levels)),
	}
	for i, l := range m.Levels {
		st.Levels[i] = LevelStats{Files: int64(l.Files), Bytes: l.Bytes}
	}
	sm := e.st.Metrics()
	st.Revision, st.Expired = sm.Revision, sm.Expired
	return st
}

// Close stops the store (its expirer), flushes the memtable to a table,
// then closes the database (which syncs and closes the log). The flush
// comes first, on its own, to tell a full disk, which loses nothing (the
// log keeps every acknowledged write, and the next start replays it), from
// a failure.
func (e *lsmEngine) Close() error {
	err := e.st.Close()
	if ferr := e.db.Flush(); ferr != nil {
		if isNoSpace(ferr) {
			e.log.Warn("memtable not flushed at shutdown: the disk is full; the write-ahead log keeps every acknowledged write",
				slog.String("error", ferr.Error()))
		} else {
			err = errors.Join(err, fmt.Errorf("flush: %w", ferr))
		}
	}
	return errors.Join(err, e.db.Close())
}

// Integrity reports damage found while running, for /health and the
// metrics.
func (e *lsmEngine) Integrity() Integrity {
	m := e.db.Metrics()
	return Integrity{
		Damage:      e.db.Damage(),
		Corruptions: m.Corruptions,
		LostFound:   m.LostFoundFiles,
		LostFoundIn: filepath.Join(e.dir, "lost+found"),
		ScrubPasses: m.ScrubPasses,
	}
}

// foreignWALDir reports whether Open refused only because the log folder
// belongs to another database (its IDENTITY names another, or it holds a
// database of its own): a configuration mistake, not damage.
func foreignWALDir(err error, walDir string) bool {
	var ces []*lsm.CorruptionError
	var walk func(error)
	walk = func(e error) {
		if ce, ok := e.(*lsm.CorruptionError); ok {
			ces = append(ces, ce)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	if len(ces) == 0 {
		return false
	}
	for _, ce := range ces {
		name := filepath.Base(ce.File)
		if filepath.Dir(ce.File) != filepath.Clean(walDir) || (name != "IDENTITY" && name != "CURRENT" && !strings.HasPrefix(name, "MANIFEST-")) {
			return false
		}
	}
	return true
}
