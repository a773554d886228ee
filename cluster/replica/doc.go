// Package replica is one member of the cluster edition, assembled: the
// state machine (package machine: server/store on its own lsm.DB), the
// raft node (package cluster), the HTTP/2 peer transport and its
// listener, and the leader's expirer. It offers what the HTTP API of
// API.md §9 needs from the replicated engine:
//
//   - [Replica.Write]: one store request, proposed through raft (from any
//     member; raft forwards to the leader), answered once it is applied
//     on this member. The request's Now and its expiry times are fixed
//     here, by the proposer, so every member reaches the same verdicts.
//   - [Replica.Read]: a read of the store, linearizable by default
//     (ReadIndex, batched by the node: every read waiting when a round
//     starts shares that round), or serializable (the local state, maybe
//     stale, no round at all).
//   - [Replica.Status] and [Replica.Metrics]: GET /v1/cluster's answer
//     (with API.md's JSON names) and the amaters_cluster_* values.
//   - [Replica.Node]: the raft node, for membership (AddMember,
//     RemoveMember) and its counters.
//
// # Expiry
//
// The members' own expirers are off. Every ExpireInterval the leader
// proposes the due entries of the expiry index (store.DueExpiries) as one
// command; every member applies it at the same index, so expiries take
// the same revisions everywhere. A proposal made twice (a new leader
// proposing what the old one had in flight) is harmless: the second
// apply finds nothing to do.
//
// # Seeding
//
// A member whose folder holds data but no raft log (a single-node
// server's data_dir, or `amaters-server restore` of a backup taken from
// a single-node server or from any cluster member) starts a new
// one-member cluster over it, if it is configured as one (initial_members
// naming only itself, initial_state new): the raft log begins with a
// snapshot at the state's applied index (cluster.Seed), so that members
// added later receive the whole state by snapshot. Any other start over
// such a folder is refused with an error naming it.
//
// # Errors
//
// Write and Read return the node's errors unchanged, so callers test
// them with errors.Is: cluster.ErrUnknownOutcome (the write may or may
// not be applied; a guarded retry is safe), cluster.ErrProposalDropped
// and cluster.ErrTimeout (no quorum: API.md's 503 unavailable),
// cluster.ErrStopped, cluster.ErrRemoved. A failed guard is the
// store's *store.GuardError, as in the single-node server.
//
// # Files
//
// Under the member's data folder: raft/ (the raft log), snap/ (received
// snapshots waiting to be installed), db/ (the state machine).
//
// # Concurrency
//
// A Replica is safe for concurrent use. Close stops every goroutine Open
// started and waits for them.
package replica
