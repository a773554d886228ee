// Package machine is the cluster edition's state machine: the product's
// revisioned store (server/store) on its own lsm.DB, implementing
// cluster.StateMachine. Every member applies the same committed entries
// through [store.Store.Apply], so every member reaches the same guard
// verdicts and the same revisions.
//
// # Commands
//
// A committed entry's command is a list of store requests, encoded by
// [Encode] (see command.go for the bytes; part of the on-disk format,
// since commands live in the raft log). Everything the apply depends on
// is fixed by the proposer and travels in the command: the ops, their
// guards, their absolute expiry times and the request's Now (the time
// against which expiry is judged). The apply uses no clock of its own.
// A write proposes one request; the leader's expirer proposes a list of
// expire requests ([store.Store.DueExpiries]), applied as one group.
//
// # Idempotence
//
// The first request of an entry carries the entry's raft index as its
// AppliedIndex, which the store records in the same atomic lsm batch as
// the entry's effects (etcd's consistent index). An entry without a
// command (a leader's empty entry, a membership change) is applied as an
// empty request that records only the index. After a crash the node
// replays the log above the raft snapshot and skips every index at or
// below [Machine.AppliedIndex], so nothing is applied twice. A command
// that does not decode is deterministic garbage: it is applied as an
// empty request on every member (its index recorded), and its result is
// an error wrapping [ErrBadCommand].
//
// # Durability
//
// The lsm.DB runs with lsm.SyncNone: the raft log (SyncAlways) is the
// durable copy of every applied entry. [Machine.Sync] flushes the
// memtable to a table and the manifest before the node compacts the raft
// log below the applied index.
//
// # Snapshots
//
// [Machine.Snapshot] takes an lsm checkpoint (from the node's apply
// goroutine, so it holds exactly the entries up to AppliedIndex) and
// streams it as a server/backup archive: the same tar, BLAKE3SUMS and
// FORMAT as `amaters-server backup`, so a snapshot is a backup.
// [Machine.Restore] reads the archive twice (from the node's saved
// snapshot file, or from <dir>/restore.tar when the stream cannot seek):
// once through backup.Verify, which checks every byte against the
// BLAKE3 sums, then to extract the database files into a new folder
// db-<index, 16 hex digits>, each file synced, then the folder. Only
// then, with readers locked out, does it close the store and the DB and
// switch: it writes the new folder's name to STATE (a temporary file,
// synced, renamed, the folder synced), opens the new database and
// removes the old one. (backup.Restore is not used: it extracts to the
// operating system's files only, and the tests run the machine on a
// crash-simulating file system; its format and verification are.)
//
// A crash before the rename of STATE leaves the old state current; a
// crash after it, the new one. [Open] removes whatever folder and file
// is not current.
//
// # Files
//
//	<dir>/db                  the database, until the first Restore (a
//	                          restored backup is there: amaters-server
//	                          restore writes DIR/db)
//	<dir>/db-<index>          the database installed by a Restore
//	<dir>/STATE               names the current database folder; absent
//	                          means db
//	<dir>/restore.tar         only during a Restore
//
// A <dir>/wal folder (a single-node server's write-ahead log) is refused
// by Open: the state would be served without the writes in that log.
//
// # Concurrency
//
// A Machine is safe for concurrent use. Apply, Sync, Snapshot and
// Restore are called by the node's one apply goroutine; reads go through
// [Machine.View] from any goroutine, and are held off only while Restore
// swaps the database.
package machine
