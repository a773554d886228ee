// Package config is the [cluster] section of the cluster edition's
// configuration (API.md §9): its keys and defaults, loading from the
// TOML file and the AMATERS_CLUSTER_* environment, and validation.
//
// The other sections are server/config's: the binary loads the file with
// server/config.LoadWith, declaring [cluster] through [Section], so the
// whole file is read once with the server's strictness and [cluster]'s
// keys come here. ([Load] reads only [cluster], for tools and tests.)
// Problems are *server/config.Error values, printed "FILE:LINE:
// cluster.key: message", so both packages' problems print alike; lines
// come from rbac.ScanTOML (Load) or server/config (Section).
//
// Precedence: defaults < file < environment (AMATERS_CLUSTER_<KEY>,
// upper-cased; initial_members comma-separated) < the binary's flags.
// Relative peer TLS paths are relative to the file's folder.
//
// # Concurrency
//
// A Cluster is a plain value: Load builds it, then it is only read.
package config
