// Package server is the amaters-server daemon: the HTTP API, the health and
// metrics listener, authentication and authorization of every request, the
// audit and access logs, the query cache, the storage wiring, and the
// lifecycle of API.md §6. The command in package main is a thin shell
// around [config.Load], [New] and [Server.Run].
//
// # Layout
//
// Package server holds the daemon only; what is not the daemon nests below
// it, each package one concept, none importing server:
//
//   - server/config: the configuration's types, loading (defaults < file <
//     environment < flags), validation and the --show printer.
//   - server/client: the Go client of the HTTP API, with retries that
//     never repeat a write that may have been applied unless a guard
//     makes it safe; the data commands (get, put, delete, range,
//     collections) and status, stop and backup use it.
//   - server/store: the revisioned state machine (revisions, guards,
//     expiry, history) on an lsm.DB, shared with the cluster edition.
//   - server/backup: the backup archive format, its verifying reader, the
//     saving of a downloaded archive, and offline restore.
//   - server/loadgen: the load generator of the bench command.
//
// Imports run one way: main → server → {lsm, authn, rbac, promtext, lru,
// blake3, logrot}; the packages under server may import those too.
//
// The files of package server:
//
//   - server.go: [Server], [Options], [New]; run.go: [Server.Run], the
//     lifecycle; reload.go: [Server.Reload]; pidfile.go; notify.go:
//     systemd's notify protocol and watchdog.
//   - routes.go: the route table on a ServeMux, behind fastpath.go, the key
//     routes without ServeMux's allocations; kv.go, batch.go, batchfast.go,
//     admin.go and backup.go: the handlers.
//   - middleware.go: the chain (apiHandler) and the exchange its steps
//     share; cors.go, compress.go, ratelimit.go, auth.go (authentication,
//     protected mode, authorization), logging.go, linebuf.go and
//     accesslog.go (the log output and the access log), listener.go (the
//     connection limits, per client address too, and the shedding of idle
//     connections near the limit), framing.go (ambiguous HTTP/1 framing
//     refused from the raw bytes), budget.go (request bodies grow as bytes
//     arrive, under one server-wide budget).
//   - errors.go: errors to status and JSON code, the only place a failed
//     request is logged; health.go, metrics.go, audit.go.
//   - extension.go: what an embedding program adds (routes, headers,
//     metrics, health checks; see "Extending the server").
//   - engine.go: the [Engine] seam; lsmengine.go: server/store on lsm
//     behind it; store.go: the metrics and the query cache around the
//     engine; cache.go: the query cache; collections.go: GET
//     /v1/collections.
//
// # Lifecycle
//
// [Server.Run] owns the server's life, in order: the log output, the data
// folder's lock and the pid file, the listeners (a busy port fails before
// recovery), the audit log, the health listener (/livez answers during
// recovery), the storage, the API listener, then readiness. Everything a request or a reload
// touches is set before readiness publishes it. Run reads the process's
// signals from [Options.Signals] from its start: SIGHUP reloads once it
// serves (a SIGHUP sent earlier waits), SIGINT and SIGTERM drain, and a
// second one exits at once. The shutdown goes backwards: readiness off,
// the API drained, the storage closed, the audit log, the pid file and
// the data folder's lock, the health listener and the log last.
//
// # Requests
//
// Every API request passes one middleware chain (apiHandler): connection
// busy, request id, recover, access log, metrics, framing, CORS,
// compression, body budget, body limit,
// authentication (or protected mode), rate limit, draining, then the router
// of routes.go, which authorizes each route. The steps share one exchange
// per request (middleware.go). Handlers return errors; [Server.writeError]
// in errors.go is the one place that turns them into JSON answers and logs
// server faults.
//
// # Reload
//
// What a reload may change (authentication, roles, TLS, CORS, rate limits,
// the log level) lives in one immutable value swapped atomically
// ([Server.Reload]), so a request sees one version from authentication to
// authorization. A refused configuration changes nothing.
//
// # Storage
//
// The state is package server/store: collections of keys, each value in an
// envelope with its mod revision and optional expiry, one database
// revision written in the same atomic lsm batch as every change, and the
// expiry index (server/store's doc.go has the byte layout and the 0.2 → 0.3
// upgrade). The server reaches it through the [Engine] seam (engine.go):
// lsmengine.go opens a store.Store on an lsm.DB, on disk or on lsm's
// in-memory file system (storage.engine = "memory" has the same
// semantics), and the store's goroutine expires keys until Close. GET
// results and range pages go through the query cache (cache.go), which is
// never stale: writes bump generations around the engine's apply, and an
// entry holding a value with an expiry is used only before it. An online
// backup (backup.go) streams a checkpoint of the engine in the archive
// format of package server/backup.
//
// # Guards, and where a replicated engine plugs in
//
// Handlers never read before they write. A PUT, DELETE or batch becomes
// one store.Request, its guards (If-Match, If-None-Match: *, batch
// if_revision and check) and expiries inside it, with Now fixed at
// acceptance, and goes to [Engine.Write] whole; the answer (the revision,
// or a *store.GuardError with the key's current entry, or whether a DELETE
// changed anything) is the store.Result the apply produced. So the
// single-node engine evaluates guards in its group commit, against the
// newest committed state. A replicated engine (the cluster module, given
// in [Options.OpenEngine]) plugs in above guard evaluation without any
// change here: its Write encodes the request, replicates it, and returns
// the Result of store.Store.Apply on this member once the entry is
// applied; every member applies the same requests in the same order and
// reaches the same verdicts and revisions. Its reads (Get, Range,
// Collections) read the local store. With such an engine the query cache
// is off, because other members' writes change the state without passing
// through this server.
//
// # Extending the server: the cluster edition's seam
//
// The cluster edition (API.md §9) is a separate Go module that builds
// amaters-server-cluster on [New] and [Server.Run] without changing this
// package. What it relies on, and what this package promises:
//
//   - Storage: [Options.OpenEngine] returns its replicated [Engine]
//     (above). Identity: [Options] Name and Version name the edition in
//     /v1/status, /health and amaters_build_info.
//   - Linearizable reads: an engine that also implements [ReadBarrier]
//     has it called before every GET, HEAD, range and collections
//     listing, unless the request says ?consistency=serializable; the
//     read then goes to the engine's Get, Range or Collections, which
//     read the local state. ?consistency= takes linearizable (the
//     default) or serializable on exactly those routes; anything else is
//     400 before any barrier. Engines without ReadBarrier (lsm, memory)
//     are linearizable already and answer both alike.
//   - Errors: a barrier or write that found no quorum within the
//     engine's request timeout wraps [ErrUnavailable] (503 unavailable,
//     Retry-After: 1; for a write: certainly not applied); a write that
//     may or may not be applied wraps [ErrUnknownOutcome] (503
//     unavailable whose message says the outcome is unknown, with
//     Amaters-Outcome: unknown, which server/client reads as "maybe
//     applied"). The engine's text follows the server's explanation in
//     the message, so it must hold no key, value or secret. Both are
//     checked before context.Canceled, so an engine may join them with
//     ctx's error.
//   - Watch (API.md §8): an engine that also implements watch.Source
//     (History and Revision of its local store.Store) serves
//     GET /v1/collections/{c}/watch (others answer 501), and it hands the
//     events its store gives OnCommit to [Server.PublishCommitted], in
//     revision order, once each, and calls [Server.PublishGap] when its
//     state changed without OnCommit (a snapshot installed). The built-in engine does both; the hub
//     lives in Run, ends every stream with "unavailable" at the drain,
//     and ends with "permission_denied" the streams a reload's roles no
//     longer allow (watch.go).
//   - Routes: [Options.Routes] adds GET /v1/cluster and the membership
//     admin (POST /v1/admin/cluster/members, DELETE
//     /v1/admin/cluster/members/{id}) to the route table: the whole chain
//     runs for them (request id, recover, access log, metrics, CORS,
//     compression, body limit, authentication or protected mode, rate
//     limit, draining), then authorization by [Permission] (none, read or
//     admin on the server; admin requests are audited), then the
//     handler, whose returned errors are answered like the server's own
//     ([HTTPError] for a chosen status and code; [WriteJSON] and
//     [ReadJSON] for bodies). New refuses a route outside /v1/, under
//     /v1/collections, or clashing with another.
//   - Headers: [Options.ResponseHeaders] adds headers (Amaters-Leader) to
//     every API answer, errors of the chain's own steps included; it is
//     the outermost step.
//   - Metrics and health: [Options.RegisterMetrics] registers more
//     families (amaters_cluster_*) on the /metrics registry, a clash
//     being an error of New; [Options.HealthChecks] adds checks ("a
//     leader is known") that, failing while the server serves, turn
//     /readyz to 503 with "NAME: reason", /health to 503 with the reason
//     under checks[NAME], and amaters_ready to 0, while the API keeps
//     serving.
//   - Configuration: server/config's LoadWith with a declared [cluster]
//     section gives the edition its table, key positions and
//     AMATERS_CLUSTER_* variables, with the same strictness and
//     "FILE:LINE" problems for everything else; [Options.LoadConfig]
//     reloads with it. amaters-server (config.Load) refuses [cluster]
//     and AMATERS_CLUSTER_* naming amaters-server-cluster.
//
// The tests of this seam (extension_test.go, extension_barrier_test.go,
// engine_test.go) use only exported names, with a fake replicated engine
// whose barrier blocks until the test releases it.
//
// # Integrity and locks
//
// Every folder and file the server writes is locked against a second
// server, which is refused naming the file and the holder's process: the
// data folder for every engine, the pid file, the log and audit files
// (lock.go), and lsm's table and log folders (package lsm). Damage the
// lsm engine finds at open refuses the start, naming the file, the check
// command ([CheckCommand]) and the restore; damage found while running (a
// read, the scrubber of storage.scrub_interval_ms) turns /health to 503
// and counts in amaters_lsm_corruptions_total, through the optional
// [IntegrityReporter] of an engine (integrity.go).
//
// # Concurrency
//
// A Server is safe for concurrent use; Run is called once.
package server
