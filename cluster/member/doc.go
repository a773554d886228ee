// Package member serves the HTTP API of the product (package server) on a
// member of the cluster edition (API.md §9): what the server's seam for a
// replicated engine (server/doc.go, "Extending the server") asks for,
// filled in with a [replica.Replica].
//
// # The engine
//
// [Member.OpenEngine] is server.Options.OpenEngine: it opens the replica
// in the data folder (raft/, snap/, db/ under server.data_dir) on the
// peer listener the binary bound, and returns a server.Engine:
//
//   - Write is replica.Write: the request, guards and expiry times fixed
//     at acceptance by the server, proposed through raft and answered
//     with the Result of the apply on this member. A failed guard or an
//     invalid request is the Result's Err, as with the single-node
//     engine.
//   - Get, Range and Collections read the local store (Machine().View).
//   - ReadBarrier (server.ReadBarrier) is the replica's ReadIndex wait:
//     a read with the default consistency waits until this member has
//     applied everything committed before it; ?consistency=serializable
//     skips it.
//   - Checkpoint is an lsm checkpoint of the state machine, so an online
//     backup of any member is one revision; Stats are the state
//     machine's lsm and store counters.
//   - Close closes the replica (node, transport, peer listener, state
//     machine).
//
// The replica's errors are mapped to the server's: a timeout without
// quorum, a proposal dropped for want of a leader, a stopped node and a
// removed member wrap server.ErrUnavailable (503, Retry-After); an
// unknown outcome wraps server.ErrUnknownOutcome (503, Amaters-Outcome:
// unknown). Their texts are the cluster's own and name no key or value.
//
// # Routes, headers, metrics, health
//
// [Member.ServerOptions] fills the rest of server.Options:
//
//   - GET /v1/cluster (permission none): replica.Status as JSON.
//   - POST /v1/admin/cluster/members {"peer_url"} (admin): Node().AddMember,
//     201 with the new member {"id","peer_url","role":"learner",
//     "reachable"}; the leader promotes it once it has caught up. Adding
//     a URL that is already a member's answers that member (a retry is
//     safe).
//   - DELETE /v1/admin/cluster/members/{id} (admin): Node().RemoveMember,
//     204; an id that is not a member is 404.
//   - Amaters-Leader: the id of the leader this member knows, on every
//     API answer; 0 while none is known (as GET /v1/cluster's "leader").
//   - amaters_cluster_* (API.md §9) read from replica.Metrics at each
//     scrape, plus amaters_cluster_peer_refused_total.
//   - the health check "cluster": "no leader known" while this member
//     knows none (or "this member was removed"), which turns /readyz to
//     503 while the API keeps serving (serializable reads still answer).
//
// Before the engine is open (the server binds its ports first) the
// routes answer 503 and the metrics read 0.
//
// # Concurrency
//
// A Member is safe for concurrent use; the replica is published once by
// OpenEngine.
package member
