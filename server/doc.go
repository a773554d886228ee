// Package server is amaters-server's runtime: configuration, the HTTP API,
// the health and metrics listener, storage wiring and the graceful
// lifecycle of API.md §6. The command in package main is a thin shell
// around [LoadConfig], [New] and [Server.Run], plus the [Client] used by the
// status and stop commands.
//
// # Configuration
//
// [LoadConfig] applies, in order, the built-in [Default], a TOML file, the
// AMATERS_* environment and command-line [Overrides]; [Config.Validate]
// reports every problem at once as *ConfigError values printed
// "FILE:LINE: section.key: message". One table (Config.fields) binds each
// key to its place, so the file, the environment, the flags and
// `validate-config --show` can never disagree about a key.
//
// # Requests
//
// Every API request passes one middleware chain (apiHandler): request id,
// recover, metrics, protected mode, draining, then the router of routes.go.
// Handlers return errors; [Server.writeError] in errors.go is the one place
// that turns them into JSON answers and logs server faults.
//
// # Storage
//
// Collections are a length-prefixed key prefix over one ordered byte
// keyspace (store.go), so an engine sees only bytes. The engine interface
// carries what an LSM tree needs: atomic batches, consistent scans, Flush
// and Close.
//
// # Concurrency
//
// A Server is safe for concurrent use; Run is called once.
package server
