// Package raftlog is the raft log of one cluster member: the entries,
// the HardState and the latest raft snapshot's metadata, kept in an
// lsm.DB of their own (under <data_dir>/raft) opened with lsm.SyncAlways.
// [Storage] implements raft.Storage for go.etcd.io/raft/v3 and adds the
// writes the Ready loop makes.
//
// # Format
//
// Keys (part of the on-disk format; never change):
//
//	"e" + index (8 bytes, big-endian)  an entry (protobuf raftpb.Entry)
//	"m/version"                        format version, "1"
//	"m/hardstate"                      protobuf raftpb.HardState
//	"m/snapshot"                       protobuf raftpb.Snapshot: metadata
//	                                   (index, term, ConfState) and the
//	                                   caller's small Data; never the state
//	                                   machine's data
//	"m/offset"                         index and term (8+8 bytes, big-endian)
//	                                   of the entry just before the first
//	                                   one kept (raft's "dummy" entry)
//	"m/last"                           the last index (8 bytes, big-endian)
//
// The big-endian index makes the lsm's byte order the log's order. Every
// write is one lsm batch, so a crash leaves either all of it or none.
//
// # Semantics
//
// The model is raft.MemoryStorage: the tests run random sequences of the
// same operations on both and compare every answer, across reopens and
// simulated power cuts. The one difference: where MemoryStorage panics
// (an append that leaves a gap, a compaction past the last index), this
// package returns an error.
//
// # Concurrency
//
// A Storage is safe for concurrent use: raft's goroutine reads while the
// Ready loop writes. Entries returned are freshly decoded; the caller
// owns them.
package raftlog
