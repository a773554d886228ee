package raftlog

import "errors"

var (
	// ErrFormat is returned by Open when the directory holds an lsm
	// database that is not a raft log of a known format version.
	ErrFormat = errors.New("raftlog: unknown format")

	// ErrOutOfRange is returned by Append for entries that would leave a
	// gap after the last index, and by Compact and CreateSnapshot for an
	// index past the last one. raft.MemoryStorage panics in these cases.
	ErrOutOfRange = errors.New("raftlog: index out of range")
)
