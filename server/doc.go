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
//   - server/client: the Go client of the HTTP API, with retries; the
//     status, stop and backup commands use it.
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
//   - engine.go: the [Engine] seam; lsmengine.go: the lsm engine behind it;
//     store.go: collections over the engine's one keyspace; cache.go: the
//     query cache.
//
// # Lifecycle
//
// [Server.Run] owns the server's life, in order: the log output, the
// listeners (a busy port fails before recovery), the audit log, the health
// listener (/livez answers during recovery), the storage, the pid file,
// the API listener, then readiness. Everything a request or a reload
// touches is set before readiness publishes it. Run reads the process's
// signals from [Options.Signals] from its start: SIGHUP reloads once it
// serves (a SIGHUP sent earlier waits), SIGINT and SIGTERM drain, and a
// second one exits at once. The shutdown goes backwards: readiness off,
// the API drained, the storage closed, the pid file, the audit log, the
// health listener and the log last.
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
// Collections are a length-prefixed key prefix over one ordered byte
// keyspace (store.go), so an [Engine] sees only bytes: package lsm, on disk
// or on an in-memory file system (lsmengine.go), or the engine
// [Options.OpenEngine] opens (a replicated one, in another module). GET
// results and range pages go through the query cache (cache.go), which is
// never stale. An online backup (backup.go) streams a checkpoint of the
// engine in the archive format of package server/backup.
//
// # Concurrency
//
// A Server is safe for concurrent use; Run is called once.
package server
