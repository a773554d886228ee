// Package client is the Go client of amaters-server's HTTP API (API.md §3):
// what a program imports to talk to a server, and what every client
// command of the amaters-server binary (status, stop, backup) uses.
//
// [New] makes a [Client] for an address ("HOST:PORT", or an http(s) URL)
// with [Options]: a bearer token or an API key, TLS and mTLS files, a
// timeout and a [RetryPolicy]. [Client.Get], [Client.Put], [Client.Delete]
// and [Client.Status] are the typed calls; [Client.Do] sends any request;
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
// [*Error] ([ErrNotFound] matches a missing key).
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
