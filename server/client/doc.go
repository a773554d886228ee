// Package client is the Go client of amaters-server's HTTP API (API.md §3
// and §7): what a program imports to talk to a server, and what every
// client command of the amaters-server binary (get, put, delete, range,
// collections, status, stop, backup) uses.
//
// [New] makes a [Client] for an address ("HOST:PORT", or an http(s) URL)
// with [Options]: a bearer token or an API key, TLS and mTLS files, a
// timeout and a [RetryPolicy]. The typed calls are [Client.Get] and
// [Client.GetEntry] (the value with its mod revision and expiry),
// [Client.Put] and [Client.Delete] with [WriteOption]s ([IfMatch],
// [IfExists], [IfAbsent], [TTL]), [Client.Range] (an iterator over every
// page) and [Client.RangePage], [Client.Batch] (atomic, with per-op
// guards and checks), [Client.Collections] and [Client.Status];
// reads take [ReadOption]s ([WithConsistency]: linearizable, the
// default, or serializable, API.md §9); the cluster edition's
// [Client.Cluster], [Client.AddMember] and [Client.RemoveMember] (on a
// single-node server their errors match [ErrNotCluster]);
// [Client.Do] sends any request;
// [Client.Backup] saves an online backup to a file, verified against its
// BLAKE3 sums as it arrives (package server/backup); [Client.Watch]
// follows a collection's changes (API.md §8), resuming by itself;
// [WaitDown] waits until a server's port closes.
//
// # Retries
//
// Every call retries what [Transient] calls transient: a refused or reset
// connection, a timeout, and the statuses 429, 502, 503 and 504. Attempt n
// (from 0) then waits a random time in [d/2, d], d = min(MaxDelay,
// BaseDelay·2ⁿ), with xorshift64 jitter so that clients started together
// spread out; a server's Retry-After, when longer and within MaxDelay,
// wins. Every other answer is final: an error status comes back as an
// [*Error] ([ErrNotFound] matches a missing key, [ErrPreconditionFailed] a
// guard that did not hold).
//
// Writes are retried only where a repeat cannot do harm. A write with a
// guard applies at most once, so it is sent again after any transient
// failure; but if an earlier attempt may have reached the server (the
// connection was cut after sending, a timeout, a proxy's 502 or 504) and
// the repeat fails its guard, the error matches both
// [ErrPreconditionFailed] and [ErrUnknownOutcome]: the lost attempt may be
// what changed the key. A write without a guard is sent again only when
// no attempt can have been applied (a refused connection, 429, 503); once
// one may have been, the error matches [ErrUnknownOutcome] and the client
// does not repeat it, since a repeat could overwrite another client's
// later write. Read the key to learn what happened. The cluster edition
// answers a write whose outcome it does not know (its leader was lost
// after the proposal) with 503 and Amaters-Outcome: unknown: the client
// treats it as an attempt that may have been applied. Any 503 left
// after the retries matches [ErrUnavailable].
//
// # Watch
//
// Watch reads the server-sent events of GET /v1/collections/{c}/watch
// with its own WHATWG parser (sse.go) and delivers a revision's events
// only once the server confirmed the revision whole: the server puts the
// SSE id on a revision's last event, and starts each stream with an
// id-only block naming the revision it starts after. A reconnect (after a
// cut, an idle connection, a slow_consumer or unavailable end) asks for
// the first revision not delivered, with from= and Last-Event-ID, so no
// event is lost or repeated; a 410 compacted, a 4xx or a revoked access
// ends the watch with an [*Error].
//
// # Concurrency
//
// A Client is safe for concurrent use and keeps connections alive; make
// one per server and reuse it.
package client
