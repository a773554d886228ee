// Package cluster is the replicated edition of amaters-server: a state
// machine kept identical on every member of a cluster by the raft of etcd
// (go.etcd.io/raft/v3), never by a consensus written here. The contract is
// shared/API.md §9; this comment is the design, written before the code.
//
// # Layers
//
//   - [amaters-server/cluster/raftlog]: the raft log of one member, in its
//     own lsm.DB under <data_dir>/raft opened with lsm.SyncAlways. It
//     implements raft.Storage plus the writes the Ready loop needs
//     (Append, SetHardState, ApplySnapshot, CreateSnapshot, Compact).
//   - [amaters-server/cluster/transport]: raft messages between members
//     over HTTP/2 (TLS with mutual authentication when peer certificates
//     are configured, otherwise cleartext HTTP/2 served to loopback
//     peers only unless insecure). It batches, bounds its queues and
//     every decoded message, and never blocks the raft loop.
//   - this package: [Node], the Ready loop between raft, the log, the
//     transport and a [StateMachine]; proposals, linearizable reads,
//     snapshots and membership; [Seed], a raft log that starts a
//     one-member cluster over existing data.
//   - [amaters-server/cluster/machine]: the real StateMachine, the
//     product's server/store on its own lsm.DB (without fsync): commands
//     carrying store requests with their guards, expiry times and Now
//     fixed by the proposer; the applied index in the apply's batch;
//     snapshots that are server/backup archives.
//   - [amaters-server/cluster/replica]: one member assembled (machine,
//     node, transport, peer listener, the leader's expirer), with the
//     write and read paths the HTTP API needs: Write through raft,
//     Read linearizable (batched ReadIndex) or serializable.
//   - [amaters-server/cluster/config]: the [cluster] section of API.md §9,
//     declared to server/config.LoadWith.
//   - [amaters-server/cluster/member]: the HTTP API on a member: the
//     replica as package server's Engine (with its ReadBarrier), and the
//     routes, Amaters-Leader header, amaters_cluster_* metrics and health
//     check, through the server's seam for an embedding program.
//   - cmd/amaters-server-cluster: the binary: server.Server with package
//     member's options, and the member and cluster client commands.
//
// The product module never imports this module; this module imports the
// product's packages (lsm, rbac, server, server/store, server/backup,
// server/config, server/client).
//
// # The Ready loop
//
// One goroutine owns raft.Node's Ready channel and does, for each Ready,
// in this order (etcd's raftexample and etcdserver/raft.go have the same
// shape; we run the simple synchronous variant):
//
//  1. The Ready's snapshot (if any), HardState and Entries are written to
//     the raft log, fsynced, in one lsm batch, BEFORE any message of this
//     Ready is sent: a vote or an append acknowledgement must never
//     precede its durable record. (One batch, because raft refuses to
//     restart from a HardState whose commit is below the snapshot.)
//  2. If there was a snapshot, the state machine is restored from its
//     data (received earlier as a stream and saved in <dir>/snap), then
//     the saved file is removed. A crash in between leaves a log whose
//     snapshot index is above the state machine's applied index; Open
//     restores the state machine from the kept file.
//  3. Messages are handed to the transport (which queues; never blocks).
//     A MsgSnap is replaced by a "merged" snapshot message at the current
//     applied index (etcd's createMergedSnapshotMessage), and the state
//     machine's snapshot stream travels with it.
//  4. Committed entries are applied in index order: every index goes
//     through StateMachine.Apply exactly once above its AppliedIndex
//     (nil data for leader no-ops and membership changes, so the state
//     machine's applied index always equals the node's). Membership
//     changes are applied to raft (ApplyConfChange) and to the member
//     table and transport.
//  5. Waiters are woken: proposals by request id, reads by applied index.
//     (A membership change's proposer is answered after Advance: raft
//     refuses, as an empty entry, a conf change proposed while it still
//     counts the last one unapplied, which it does until Advance.)
//  6. Every Options.SnapshotEntries applied entries: StateMachine.Sync,
//     then a raft snapshot (metadata only: index, term, ConfState, and
//     the member table in its Data field) and a log compaction that keeps
//     Options.CatchUpEntries entries for slow followers.
//  7. Advance.
//
// # Proposals
//
// An entry's data is an envelope: a format byte, the proposing member's
// id, a request id, then the command (see entry.go; part of the on-disk
// format). The proposer registers a waiter under the request id before
// proposing; the member that applies the entry wakes the waiter with the
// state machine's result. Request ids start at a random 64-bit value on
// each start, so an entry proposed before a restart never wakes a waiter
// created after it. Outcomes:
//
//   - applied: the state machine's result and error;
//   - [ErrProposalDropped]: raft refused it before it reached any log (no
//     leader known, a leadership transfer): certainly not applied;
//   - [ErrUnknownOutcome]: the leader this member knew was lost after the
//     proposal (a step-down by CheckQuorum, a new term), or the request
//     timed out: the entry may still commit. Guards make a retry safe.
//
// # Reads
//
// Linearizable reads use ReadIndex, batched: reads queue while one round
// is in flight, and the next round serves every read queued before it
// started. A read returns once the member has applied up to the round's
// read index. A round that gets no answer (no leader, lost message) is
// retried until the reads' contexts end.
//
// # Restart and idempotence
//
// The state machine records its applied index atomically with each
// write (etcd's consistent index). On restart raft replays the committed
// entries above the raft snapshot's index; the node skips Apply for
// indexes at or below the state machine's AppliedIndex but still applies
// their membership changes to raft. The state machine may therefore run
// without fsync: the raft log is the durable copy. Before a raft snapshot
// is taken (and the log below it compacted) the node calls
// StateMachine.Sync, so the log never loses an entry the state machine
// might have lost.
//
// # Membership
//
// Members join as learners ([Node.AddMember]) with a fresh id (one above
// every id ever used, checked again when applied, so two concurrent adds
// cannot share one), are promoted to voters by the leader once their
// match index is within Options.PromoteLag of the leader's commit index,
// and leave with [Node.RemoveMember]. Raft takes one membership change
// at a time and turns one proposed while the leader counts another as
// unapplied into an empty entry, silently; so the node answers its own
// changes after Advance, proposes a change again every election timeout
// until it is applied (a copy applied later is refused as a no-op: its
// id is used, or no longer a member), and AddMember chooses a new id
// when the one it chose was taken meanwhile. Removed ids are remembered in the
// member table forever and never reused. The member table (id, peer URL,
// removed) is rebuilt on restart from the raft snapshot's Data and the
// replayed membership entries, so it needs no storage of its own.
// A new cluster bootstraps from Options.InitialMembers (raft.StartNode
// with the peers' URLs in the bootstrap entries); a member joining an
// existing cluster starts empty and receives the log or a snapshot from
// the leader.
//
// # Tests
//
// The tests of this package run members in one process: a KV state
// machine on lsm (without fsync, so restarts replay the log), an
// in-memory network with seeded drops, duplicates, delays (reordering)
// and symmetric and one-way partitions, power cuts through an in-memory
// crash file system (internal/crashfs; a crash stops the member's disk
// at the crash point before the member is closed, so that it cannot
// acknowledge an entry the crash state lacks), and Porcupine checking the
// clients' history for linearizability, with that KV state machine and
// with the real one (package machine: server/store without fsync, so a
// power cut takes applied entries back and the log replays them, and
// snapshots are backup archives), the latter with guarded writes
// (create if absent, delete if present). One test runs three members
// over the real HTTP/2 transport on loopback. Package replica's tests run
// three members of the real edition (server/store state machine, HTTP/2
// on loopback) through leader kills, follower kills, leader isolation,
// joins by snapshot and seeding from a backup, and check a guarded
// counter and a model of acknowledged writes. The binary's tests
// (cmd/amaters-server-cluster) run three member processes over the HTTP
// API: SIGKILL of the leader under load, a restart that catches up, no
// acknowledged write lost, a guarded counter, and a member whose peers
// are SIGSTOPped answering serializable reads only.
//
// # Concurrency
//
// A [Node] is safe for concurrent use. Propose and ReadIndex block until
// their outcome is known or their context ends; Close stops the loop and
// waits for every goroutine the node started.
package cluster
