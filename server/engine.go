package server

// engine is the byte-level ordered key-value store under the server. Keys
// reaching it already carry their collection prefix (see store.go), so an
// engine knows nothing of collections. Implementations are safe for
// concurrent use.
type engine interface {
	// Get returns the value of key, or an error matching errNotFound. The
	// returned slice is the caller's.
	Get(key []byte) ([]byte, error)
	// Apply applies every op or none, and returns once the batch is
	// durable as the engine's sync mode promises.
	Apply(ops []op) error
	// Scan calls fn for each key in [lo, hi) in ascending order (hi == nil
	// means unbounded) until fn returns false. Every call sees one
	// consistent point in time; fn must not call back into the engine and
	// must copy what it keeps.
	Scan(lo, hi []byte, fn func(key, value []byte) bool) error
	// Flush makes everything applied so far durable in the engine's
	// long-term form (for an LSM: memtable to SSTable).
	Flush() error
	// Close flushes, syncs and releases the engine; later calls fail.
	Close() error
	// Stats reports sizes and counters for /metrics and /health.
	Stats() engineStats
	// Checkpoint flushes and pins a consistent point-in-time set of the
	// engine's files for an online backup (see lsm.DB.Checkpoint): every
	// write acknowledged before the call, and maybe some concurrent ones,
	// always whole batches. At most one checkpoint is open at a time: each
	// pins tables that compaction would otherwise delete, so concurrent
	// backups could hold several versions' worth of disk. While one is
	// open, Checkpoint fails with errBackupRunning. Close releases it.
	Checkpoint() (*checkpoint, error)
}

// op is one write of a batch.
type op struct {
	del   bool
	key   []byte
	value []byte // never nil for a set: an empty value is a value
}

// engineStats is what an engine reports to the metrics; fields an engine
// does not have stay zero.
type engineStats struct {
	SizeBytes   int64
	Flushes     uint64
	Compactions uint64
	WALSyncs    uint64
	WriteStalls uint64
	Levels      []levelStats
	// Err is a storage failure that stopped writes (disk full, failed
	// fsync), or nil.
	Err error
}

type levelStats struct {
	Files int64
	Bytes int64
}
