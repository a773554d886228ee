package server

import (
	"io"

	"amaters-server/lsm"
)

// Engine is the storage under a Server: an ordered map of byte-string keys
// to byte-string values. It is the seam a storage engine plugs into: the
// lsm engine on disk (storage.engine = "lsm"), the same engine on an
// in-memory file system ("memory"), or an engine the server does not know,
// such as a replicated one in another Go module, given in
// [Options.OpenEngine]. The server stores every collection in one engine
// keyspace, each key prefixed by its collection (see store.go), so an
// engine knows nothing of collections, HTTP or authorization.
//
// # Concurrency
//
// Every method may be called from many goroutines at once, except that
// Close is called once, after every other call has returned.
//
// # Errors
//
// The server answers by matching errors with errors.Is: [ErrNotFound]
// (404), [ErrClosed] (503, shutting down), [ErrWritesStopped] (503, and
// the error is logged), syscall.ENOSPC or syscall.EDQUOT (507, disk
// full); anything else is a 500, logged with its request id. An engine
// wraps its errors rather than hiding these. Stats.Err reports a
// lasting storage failure to /health.
type Engine interface {
	// Get returns the value of key, or an error matching ErrNotFound
	// when it has none. The returned slice is the caller's.
	Get(key []byte) ([]byte, error)

	// Apply applies a batch atomically: once it returns nil every op is
	// applied, and a reader (Get, Scan) sees all of them or none,
	// never a part; when it returns an error none is applied. The ops
	// apply in order (a later op on the same key wins). It returns once
	// the batch is as durable as the engine promises (for lsm,
	// storage.sync). The engine may not keep ops or their slices after it
	// returns.
	Apply(batch []Op) error

	// Scan calls fn for each key in [lo, hi) in ascending byte order
	// (hi == nil means no upper bound) until fn returns false. Every key
	// and value comes from one point in time, which includes every batch
	// applied before Scan was called. fn must not call back into the
	// engine, and must copy what it keeps: key and value are valid only
	// during the call.
	Scan(lo, hi []byte, fn func(key, value []byte) bool) error

	// Checkpoint returns a consistent, point-in-time copy of the data as
	// the files of an lsm database, for an online backup (package
	// server/backup): every batch applied before the call, maybe some
	// concurrent ones, always whole batches. Reads and writes go on while
	// it is open. The server opens at most one at a time and closes it
	// before Close.
	Checkpoint() (Checkpoint, error)

	// Stats reports sizes and counters for /metrics and /health. It is
	// called at every scrape, so it should be cheap.
	Stats() EngineStats

	// Close makes everything applied durable, releases the engine, and
	// returns the first error; later calls of the other methods fail
	// with ErrClosed. A full disk at Close is not an error when applied
	// data is safe anyway (an lsm keeps it in its write-ahead log).
	Close() error
}

// Op is one write of a batch: a put of Value under Key, or, with Delete
// set, the removal of Key (which need not exist).
type Op struct {
	Delete bool
	Key    []byte
	// Value is never nil for a put: an empty value is a value, not a
	// deletion.
	Value []byte
}

// Checkpoint is an open, consistent copy of an engine's data: the files of
// an lsm database, from which [server/backup.Write] writes an archive that
// restores into a data folder. *lsm.Checkpoint is one.
type Checkpoint interface {
	// Files lists the files: tables by name, then the manifest, then
	// CURRENT.
	Files() []lsm.CheckpointFile
	// Open returns the contents of one of them.
	Open(name string) (io.ReadCloser, error)
	// Seq is the last write sequence number the checkpoint may hold.
	Seq() uint64
	// Close releases the checkpoint.
	Close() error
}

// EngineStats is what an engine reports to the metrics and the health
// check. The counters only grow; fields an engine does not have stay zero.
type EngineStats struct {
	SizeBytes   int64  // bytes held: tables, logs, manifests
	Flushes     uint64 // memtable flushes
	Compactions uint64
	WALSyncs    uint64
	WriteStalls uint64
	// StallSeconds is the time writes waited in stalls.
	StallSeconds float64
	Levels       []LevelStats // per LSM level, from 0
	// Err is a storage failure that stops writes (disk full, a failed
	// fsync), or nil.
	Err error
}

// LevelStats is one LSM level of [EngineStats].
type LevelStats struct {
	Files int64
	Bytes int64
}

// The errors an Engine returns that the server answers specially (see
// [Engine]). They are lsm's own, so an engine built on package lsm passes
// its errors through unchanged.
var (
	// ErrNotFound is returned by Get when a key has no value.
	ErrNotFound = lsm.ErrNotFound
	// ErrClosed is returned by every call after Close.
	ErrClosed = lsm.ErrClosed
	// ErrWritesStopped is returned by writes after a storage failure that
	// the engine cannot recover from while running (a failed fsync);
	// reads go on.
	ErrWritesStopped = lsm.ErrWritesStopped
)
