// Package server is amaters-server's runtime: configuration, the HTTP API,
// the health and metrics listener, storage wiring and the graceful
// lifecycle of API.md §6. The command in package main is a thin shell
// around [config.Load], [New] and [Server.Run]; its client commands use
// package server/client, and bench the load generator of server/loadgen.
//
// # Configuration
//
// The configuration is package server/config. [Validate] (and [New]) check
// it with [config.Config.Validate], then load the files it names (keys,
// certificates, roles) and report their problems in the same form.
//
// # Requests
//
// Every API request passes one middleware chain (apiHandler): request id,
// recover, access log, metrics, CORS, compression, body limit,
// authentication (or protected mode), rate limit, draining, then the router
// of routes.go, which authorizes each route: a ServeMux of the route table,
// behind a fast path for the key routes that gives ServeMux's answers
// without its allocations (fastpath.go). The steps share one exchange per
// request (middleware.go). Handlers return errors; [Server.writeError]
// in errors.go is the one place that turns them into JSON answers and logs
// server faults.
//
// # Reload
//
// What SIGHUP may change (authentication, roles, TLS, CORS, rate limits)
// lives in one immutable value swapped atomically ([Server.Reload]), so a
// request sees one version from authentication to authorization.
//
// # Storage
//
// Collections are a length-prefixed key prefix over one ordered byte
// keyspace (store.go), so an [Engine] sees only bytes: package lsm, on disk
// or on an in-memory file system (lsmengine.go), or the engine
// [Options.OpenEngine] opens. GET results and range pages
// go through the query cache (cache.go), which is never stale. An online
// backup (backup.go) streams a checkpoint of the engine in the archive
// format of package server/backup; client.Client.Backup saves one
// verified, and the restore command restores one offline with
// backup.Restore.
//
// # Concurrency
//
// A Server is safe for concurrent use; Run is called once.
package server
