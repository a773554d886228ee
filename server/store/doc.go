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
//	s, err := store.Open(db, store.Options{HistoryRevisions: 100000})
//	res, err := s.Write(ctx, store.Request{Ops: []store.Op{{Kind: store.OpPut,
//		Collection: "users", Key: k, Value: v, Guard: store.Guard{Kind: store.GuardAbsent}}}})
//	entry, rev, err := s.Get("users", k, time.Now())
//	err = s.Close() // then db.Close(): the Store does not own the DB
//
// # Revisions
//
// The database revision is a uint64 that every committed write takes the
// next of: a PUT, a DELETE that removed a key, a batch (all its ops share
// one), an expiry. It is strictly increasing, never reused and persisted
// in the same atomic lsm batch as the write. A request that changes
// nothing (a DELETE of an absent or expired key, a batch of only checks
// and such deletes, a failed guard) takes no revision and reports the
// current one. The revision of a read is one at which everything it
// returns was the current state (see [Store.Get] for the argument).
//
// Revisions are as durable as writes: with lsm's SyncAlways nothing
// acknowledged is lost, so no revision is ever given twice. With
// SyncInterval or SyncNone a power cut may lose the newest writes and
// their revisions, which are then given again to later writes (the
// cluster edition replays them from its raft log instead).
//
// # Guards
//
// An op may carry a guard: the key exists with mod revision N, exists,
// or is absent. Guards are evaluated in the apply, against the newest
// committed state plus the earlier requests of the same group, never by a
// read before it. All the guards of a request are evaluated first,
// against the state before the request; if one fails, the whole request
// fails (nothing of it applied, no revision taken) with a [GuardError]
// naming the op and the key's current entry. Otherwise its ops apply in
// order, each seeing the earlier ones (a DELETE after a PUT of the same
// key removes it, and both events are recorded). Expired keys are absent
// to guards and to DELETE. Time for expiry is the request's Now, fixed by
// whoever accepted it (the proposer, in a cluster), never the applier's
// clock.
//
// # Group commit
//
// Write queues a request; the first waiting writer leads: it takes the
// queued requests (up to MaxGroupBytes), evaluates them in order against
// the state and an overlay of the group's earlier writes, gives each
// changing request the next revision, and applies the whole group as one
// lsm batch (one log write, one fsync), so the group is durable all or
// nothing. Only then does the next group start, so a guard never depends
// on a write that could still fail. An unguarded PUT without expiry reads
// nothing; every other op reads its key once (from the overlay when the
// group touched it already).
//
// # Expiry
//
// A PUT may carry an absolute expiry, kept to the millisecond; a value is
// expired at a time whose millisecond is its expiry or later. Expired
// values are invisible at once to Get, Range, Collections, guards and
// DELETE, whatever the expirer did. Each value with an expiry has an
// expiry index entry in the same batch. The expirer walks the index up to
// now ([Store.DueExpiries]) and applies one expire request per entry
// (OpExpire): it deletes the key at its own revision, with an expire
// event, if the key still has the entry's mod revision and is expired at
// the request's Now; either way it removes the entry, unless it belongs to
// the key's current value. Entries go stale when their key is deleted
// (removed at once: DELETE reads the key) or rewritten; a PUT with an
// expiry or a guard reads the key and removes its old entry, a plain PUT
// leaves it to the expirer, which removes it when it comes due, taking no
// revision. Which PUTs read depends on the op only, never on the overlay,
// so the bytes a request writes do not depend on how requests are
// grouped. In the cluster edition the leader proposes DueExpiries through
// raft, and the members' own expirers are off (ExpireInterval < 0).
//
// # History
//
// When HistoryRevisions > 0, every change is also written, in the same
// batch, as an event under its revision and its index in the revision.
// The meta key "hist_oldest" is the oldest revision R such that every
// event of every revision from R on is in the history; [Store.History]
// refuses an older start with ErrCompacted. The trimmer deletes the
// events of revisions older than the newest HistoryRevisions and raises
// "hist_oldest" in the same batch (to the revision after one it cut short,
// when its pass ends inside a revision). With HistoryRevisions = 0 no
// event is written, and every changing batch sets "hist_oldest" to its
// revision + 1, so that turning history on later starts it right there;
// the trimmer then deletes any older events.
//
// # Watching
//
// Options.OnCommit receives each committed group's events, in revision
// order, after they are durable and visible to reads and to History,
// from the committing goroutine with the commit lock held (so it must not
// block). A watcher starting at revision F hands over from the history to
// the live feed with no gap and no duplicate:
//
//  1. Register with the fan-out fed by OnCommit, buffering events.
//  2. Call History(F, …) and deliver its events; let L be the last
//     revision it delivered (F-1 if none).
//  3. Deliver the buffered and later live events with revision > L
//     (and ≥ F), dropping the others.
//
// No gap: a commit missing from History's snapshot became visible after
// the snapshot was taken, hence after step 1, and OnCommit runs after the
// commit is visible, so the commit is in the buffer. No duplicate: every
// event at or below L came from History, and a revision's events are all
// in one batch (all or none in the snapshot) and all in one OnCommit call.
//
// # Reads
//
// Get reads the key, and its revision at no extra cost in the common case
// (see [Store.Get]). Range reads one lsm snapshot, whose "rev" key is its
// revision. [Store.Collections] lists collections in bytewise name order
// without scanning keys: data keys sort by name length first, so it keeps
// one cursor per name length present and merges them, each cursor jumping
// from a collection to the next at the prefix end of len(c) | c; it looks
// at up to 64 keys of a collection for a live one, and lists a collection
// whose first 64 keys are all expired but not yet deleted.
//
// # Cluster edition
//
// Apply evaluates and commits requests synchronously, with the code of
// Write's leader. A request's AppliedIndex (the raft index of its entry)
// is written in the same batch ("applied"), and Apply skips a request
// whose index is not above the recorded one (ErrAlreadyApplied), so a
// replay after a crash applies nothing twice. Apply uses no clock, no
// lsm sequence number and no map order: its results and the bytes it
// writes depend only on the prior state and the requests, whatever the
// grouping.
//
// # Concurrency
//
// A [Store] is safe for concurrent use. Writes are serialised by the
// group commit; reads never wait for writes. The store runs one
// background goroutine (the expirer and trimmer, each on its own period),
// which Close stops and waits for. Close does not close the lsm.DB: the
// caller does, after Close.
//
// # Errors
//
// The sentinels are in errors.go, each saying when it is returned; test
// them with errors.Is. A value that does not decode is a
// *[CorruptionError] (ErrCorruption) naming what it is and its key, never
// a panic and never served.
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
// envelope with an unknown bit as corruption. The mod revision is at
// least 1, an expiry after 1970.
//
// Meta keys: "format" (u32 BE, 3 for this layout), "rev" (u64 BE, the
// database revision, written in every changing batch), "applied" (u64 BE,
// the cluster edition's applied raft index, written with the batch that
// applied it), "hist_oldest" (u64 BE, the oldest revision the history
// serves; absent means 1), "upgrade" (the last data key rewritten by an
// unfinished upgrade from 0.2).
//
// A history event:
//
//	kind u8 (1 put, 2 delete, 3 expire) | len(c) u8 | c | uvarint len(key) | key
//	put only: flags u8 | [expires unix ms i64 BE if flag 1] | value
//
// The event's revision is in its key. Every integer and length has one
// encoding (no overlong uvarint), so a value that decodes encodes back to
// the same bytes.
//
// Part of the on-disk format; never change a meaning, only add.
//
// # Upgrade from 0.2
//
// A 0.2 folder has data keys with raw values and no "format" key. Open
// rewrites every value into an envelope with mod revision 1, in key
// order, in batches that also record the last key rewritten in "upgrade",
// so a crash resumes where it stopped; the last batch sets "format",
// "rev" = 1 and "hist_oldest" = 2 (revision 1 has no events) and deletes
// "upgrade". It logs its start and every 100000 keys. Until then nothing
// is served. An empty database without "format" just gets it, at
// revision 0. A "format" newer than this code knows is refused with
// ErrNewerFormat.
package store
