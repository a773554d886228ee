package cluster

import "io"

// StateMachine is what the cluster replicates. The node calls every
// method from its one apply goroutine, never concurrently, except
// AppliedIndex, which may be called from any goroutine.
//
// The real one is server/store's engine; the tests have a KV map on lsm.
type StateMachine interface {
	// Apply applies the committed entry at index. The node calls it once
	// for every index above AppliedIndex, in order; data is nil for
	// entries that carry no command (a new leader's empty entry, a
	// membership change), which the state machine only records, so that
	// AppliedIndex always equals the node's applied index.
	//
	// The state machine must record index atomically with the entry's
	// effects (etcd's consistent index), so that a replay after a crash
	// skips what it already applied. It need not be durable at once: the
	// raft log is the durable copy (see Sync).
	//
	// result goes back to the member that proposed the entry; a
	// deterministic refusal (a failed guard) is a result, not an error.
	// A non-nil error means the entry could not be applied (a disk
	// failure): the node stops, since no later entry may be applied.
	Apply(index uint64, data []byte) (result any, err error)

	// AppliedIndex returns the index of the last applied entry (0 for an
	// empty state machine).
	AppliedIndex() uint64

	// Sync makes everything applied so far durable. The node calls it
	// before it takes a raft snapshot and compacts the log below it.
	Sync() error

	// Snapshot returns the state as of AppliedIndex, as a stream that
	// may be read later from another goroutine, while Apply goes on.
	Snapshot() (io.ReadCloser, error)

	// Restore replaces the whole state by a stream from Snapshot taken
	// at index; afterwards AppliedIndex returns index.
	Restore(index uint64, r io.Reader) error
}
