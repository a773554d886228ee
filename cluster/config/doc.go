// Package config is the [cluster] section of the cluster edition's
// configuration (API.md §9): its keys and defaults, loading from the
// TOML file and the AMATERS_CLUSTER_* environment, and validation.
//
// The other sections are server/config's: the binary loads the same file
// with server/config.Load, which reports [cluster] as an unknown section
// (server/config has no hook for a section it does not know), and drops
// exactly that one problem; this package reads only [cluster] and ignores
// the rest. Problems are *server/config.Error values, printed
// "FILE:LINE: cluster.key: message", so both packages' problems print
// alike; lines come from rbac.ScanTOML, as in server/config.
//
// Precedence: defaults < file < environment (AMATERS_CLUSTER_<KEY>,
// upper-cased; initial_members comma-separated) < the binary's flags.
// Relative peer TLS paths are relative to the file's folder.
//
// # Concurrency
//
// A Cluster is a plain value: Load builds it, then it is only read.
package config
