package server

import (
	"context"
	"errors"
	"io"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/store"
)

// Engine is the storage under a Server: the revisioned state machine of
// package server/store (collections of keys, each with its mod revision
// and optional expiry, one database revision, guards evaluated inside the
// apply). It is the seam a storage engine plugs into: a [store.Store] on an
// lsm.DB on disk (storage.engine = "lsm") or on lsm's in-memory file system
// ("memory"), or an engine the server does not know, such as a replicated
// one in another Go module, given in [Options.OpenEngine].
//
// # Where guards are evaluated
//
// The server never reads before it writes: it hands the whole request,
// guards included, to Write, and answers from the [store.Result]. A
// replicated engine plugs in above guard evaluation: its Write encodes the
// request, replicates it, and returns the Result that [store.Store.Apply]
// gave when the request was applied on this member (every member applies
// the same requests in the same order, so every member reaches the same
// verdict and revision). Reads (Get, Range, Collections) read the local
// store.
//
// # Concurrency
//
// Every method may be called from many goroutines at once, except that
// Close is called once, after every other call has returned.
//
// # Errors
//
// The server answers by matching errors with errors.Is: [ErrNotFound]
// (404), [ErrPreconditionFailed] (412, from Result.Err, a
// *store.GuardError), store.ErrInvalid (400), [ErrClosed] or lsm.ErrClosed
// (503, shutting down), [ErrWritesStopped] (503, and the error is logged),
// syscall.ENOSPC or syscall.EDQUOT (507, disk full), and for a
// replicated engine [ErrUnavailable] (503, no quorum) and
// [ErrUnknownOutcome] (503, the write may or may not be applied); anything
// else is a 500, logged with its request id. An engine wraps its errors rather than
// hiding these. Stats.Err reports a lasting storage failure to /health.
type Engine interface {
	// Write applies one request atomically, guards evaluated in the
	// apply, and returns its result (Result.Err: a failed guard, an
	// invalid request, or the storage error that failed it). The error
	// is for a request whose outcome is unknown: ctx ended or the engine
	// closed while it waited (a replicated engine: it may still apply,
	// and the error wraps [ErrUnknownOutcome]), or, for a replicated
	// engine, one refused for lack of quorum, certainly not applied
	// ([ErrUnavailable]).
	// It returns once the request is as durable as the engine promises
	// (for lsm, storage.sync) and visible to reads.
	Write(ctx context.Context, req store.Request) (store.Result, error)

	// Get is [store.Store.Get]: the live entry of c/key at time now and
	// the revision of the state it was read from.
	Get(c string, key []byte, now time.Time) (store.Entry, uint64, error)

	// Range is [store.Store.Range]: one consistent snapshot.
	Range(c string, start, end []byte, limit, maxBytes int, now time.Time) (items []store.Item, more bool, next []byte, rev uint64, err error)

	// Collections is [store.Store.Collections].
	Collections(after string, limit int, now time.Time, allow func(c string) bool) (names []string, more bool, err error)

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

	// Close stops the engine's background work (the expirer), makes
	// everything applied durable, releases the engine, and returns the
	// first error; later calls of the other methods fail with ErrClosed.
	// A full disk at Close is not an error when applied data is safe
	// anyway (an lsm keeps it in its write-ahead log).
	Close() error
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
	// Memory is the engine's own accounting of what it holds in memory.
	Memory EngineMemory
	// CompactionsRunning, CompactionBytesRead and CompactionBytesWritten
	// are the compactions in progress and the table bytes finished ones
	// merged and wrote; CompactionDebt estimates the bytes compactions
	// have yet to merge.
	CompactionsRunning     int64
	CompactionBytesRead    uint64
	CompactionBytesWritten uint64
	CompactionDebt         int64
	Levels                 []LevelStats // per LSM level, from 0
	// Revision is the database revision (amaters_storage_revision).
	Revision uint64
	// Expired counts keys deleted by expiry
	// (amaters_storage_expired_total).
	Expired uint64
	// Err is a storage failure that stops writes (disk full, a failed
	// fsync), or nil.
	Err error
}

// EngineMemory is what an engine holds in memory, by use.
type EngineMemory struct {
	MemtableBytes   int64 // allocated by the memtables' arenas
	BlockCacheBytes int64 // held by the block cache (data, index and filter blocks)
}

// LevelStats is one LSM level of [EngineStats].
type LevelStats struct {
	Files int64
	Bytes int64
}

// The errors an Engine returns that the server answers specially (see
// [Engine]). They are server/store's and lsm's own, so an engine built on
// them passes its errors through unchanged.
var (
	// ErrNotFound is returned by Get when a key has no live value.
	ErrNotFound = store.ErrNotFound
	// ErrPreconditionFailed is a failed guard (a *store.GuardError).
	ErrPreconditionFailed = store.ErrPreconditionFailed
	// ErrClosed is returned by every call after Close.
	ErrClosed = store.ErrClosed
	// ErrWritesStopped is returned by writes after a storage failure that
	// the engine cannot recover from while running (a failed fsync);
	// reads go on.
	ErrWritesStopped = lsm.ErrWritesStopped
)

// ReadBarrier is implemented by an [Engine] whose local reads may lag
// writes committed elsewhere: a replicated engine, whose member applies
// what the cluster committed a little later than the cluster committed it.
// Before a linearizable read (GET, HEAD, range, the collections listing;
// API.md §9: every read unless ?consistency=serializable) the server calls
// ReadBarrier, then reads through Get, Range or Collections; a
// serializable read skips it and reads the local state as it is.
//
// ReadBarrier returns once the engine's local state reflects every write
// committed (anywhere) before the call: the ReadIndex pattern, where the
// leader confirms it still leads and names its commit index, and the
// member waits until it has applied up to that index. Many concurrent
// barriers may share one round. It must give up by the engine's own
// request timeout (for the cluster edition, request_timeout_ms) with an
// error wrapping [ErrUnavailable], and when ctx ends with ctx's error.
//
// Engines without it (lsm, memory) are linearizable already: a read sees
// every write acknowledged before it began.
type ReadBarrier interface {
	ReadBarrier(ctx context.Context) error
}

// The errors of a replicated engine, which it wraps (fmt.Errorf("%w: …"))
// so that the server answers them as API.md §9 says. The wrapping error's
// text is shown to the client after the server's own explanation, so it
// must name no key, value or secret.
var (
	// ErrUnavailable is a request the engine could not serve within its
	// request timeout for lack of quorum (no leader known or reachable,
	// this member removed): 503 unavailable, with Retry-After. For a
	// write it means the write was certainly not applied (raft refused
	// the proposal before it reached any log); a write that may still be
	// applied is ErrUnknownOutcome instead.
	ErrUnavailable = errors.New("unavailable: no quorum within the request timeout")
	// ErrUnknownOutcome is a write whose outcome is unknown: it was
	// proposed, and then the leader was lost or the request timed out
	// before it was applied here, so it may or may not be applied. The
	// answer is 503 unavailable whose message says so, with the header
	// Amaters-Outcome: unknown; clients must not repeat an unguarded
	// write after it (server/client does not), and a guard (If-Match)
	// makes a retry safe.
	ErrUnknownOutcome = errors.New("outcome unknown")
)
