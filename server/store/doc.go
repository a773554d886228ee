// Package store is the database's state: collections of keys, each with
// the revision of the write that last set it and an optional expiry, a
// database revision shared by every write, guards evaluated inside the
// apply, and a history of changes for watchers. It sits on one [lsm.DB]
// (on disk, or on lsm's memory file system) and is the state machine of
// both editions: the single-node server writes through [Store.Write]
// (a group commit), and the cluster edition applies committed raft entries
// through [Store.Apply], which reaches the same verdicts and revisions on
// every member because it depends only on the state and the request.
//
// # Revisions
//
// The database revision is a uint64 that every committed write takes the
// next of: a PUT, a DELETE that removed a key, a batch (all its ops share
// one), an expiry. It is strictly increasing, never reused and persisted
// in the same atomic lsm batch as the write. A request that changes
// nothing (a DELETE of an absent key, a batch of only checks and such
// deletes) takes no revision and reports the current one. The revision
// of a read is one at which everything it returns was the current state.
//
// # Guards
//
// An op may carry a guard: the key exists with mod revision N, exists,
// or is absent. Guards are evaluated in the apply, against the newest
// committed state plus the earlier requests of the same group, never by a
// read before it; a failed guard fails its whole request (nothing of it
// applied, no revision taken) and names the op. Expired keys are absent
// to guards. Time for expiry is the request's Now, fixed by whoever
// accepted it (the proposer, in a cluster), never the applier's clock.
//
// # Group commit
//
// Write queues a request; the first waiting writer leads: it takes the
// queued requests (up to a size bound), evaluates them in order against
// the state and an overlay of the group's earlier writes, gives each
// changing request the next revision, and applies the whole group as one
// lsm batch (one log write, one fsync), so the group is durable all or
// nothing. Only then does the next group start, so a guard never depends
// on a write that could still fail.
//
// # Format
//
// All keys of the lsm.DB. Collection names are 1..128 bytes, so a first
// byte of 0 never starts a data key: it marks the store's own keys.
//
//	data     len(c) u8 | c | key                     → envelope
//	meta     0x00 'm' | name                         → see below
//	history  0x00 'h' | rev u64 BE | index u32 BE    → event
//	expiry   0x00 'x' | expires unix ms u64 BE | data key → mod rev u64 BE
//
// The envelope of a stored value:
//
//	+---------+------------------+--------------------------------+-------+
//	| flags u8| mod rev u64 BE   | expires unix ms i64 BE (flag 1)| value |
//	+---------+------------------+--------------------------------+-------+
//
// flags bit 0: an expiry follows. Other bits are 0; a reader refuses an
// envelope with an unknown bit as corruption.
//
// Meta keys: "format" (u32 BE, 3 for this layout), "rev" (u64 BE, the
// database revision, written in every changing batch), "applied" (u64 BE,
// the cluster edition's applied raft index, written with the batch that
// applied it), "hist_oldest" (u64 BE, the oldest revision still in the
// history), "upgrade" (the last data key rewritten by an unfinished
// upgrade from 0.2).
//
// A history event:
//
//	kind u8 (1 put, 2 delete, 3 expire) | len(c) u8 | c | uvarint len(key) | key
//	put only: flags u8 | [expires unix ms i64 BE if flag 1] | value
//
// The event's revision is in its key.
//
// Part of the on-disk format; never change a meaning, only add.
//
// # Upgrade from 0.2
//
// A 0.2 folder has data keys with raw values and no "format" key. Open
// rewrites every value into an envelope with mod revision 1, in key
// order, in batches that also record the last key rewritten in "upgrade",
// so a crash resumes where it stopped; the last batch sets "format" and
// "rev" = 1 and deletes "upgrade". Until then nothing is served. A
// "format" newer than this code knows is refused.
package store
