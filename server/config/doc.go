// Package config is amaters-server's configuration (API.md §2): its types,
// the embedded defaults, loading from a TOML file, the AMATERS_*
// environment and the command line, validation, and the effective
// configuration printed back as TOML.
//
// # Loading
//
// [Load] applies, in order, the built-in [Default], a TOML file, the
// AMATERS_* environment and the command-line [Overrides]. Unknown
// sections, keys and variables are problems, with a "did you mean" hint
// when a known name is close. Relative paths in the file are relative to
// the file's folder. One table (Config.fields) binds each key to its place,
// so the file, the environment, the flags, `validate-config --show`
// ([Config.MarshalTOML]) and the reload's list of changed keys
// ([Changed]) can never disagree about a key.
//
// # Sections of an embedding program
//
// A program that embeds the server with configuration of its own (the
// cluster edition's [cluster] section, API.md §9) loads with [LoadWith],
// declaring its sections in [Options]. Each [Section.Load] receives its
// table as decoded, the "FILE:LINE" of each of its keys, the file's folder
// and its AMATERS_<NAME>_* variables, and returns its problems as *Error
// values, which are joined with the rest; everything else is read exactly
// as by [Load]. Without the declaration, [cluster] and AMATERS_CLUSTER_*
// are refused with a message naming amaters-server-cluster: a
// configuration written for a cluster member never quietly starts a
// single node.
//
// # Problems
//
// [Load] and [Config.Validate] report every problem at once, joined, each an
// [*Error] printed "FILE:LINE: section.key: message" (or "$AMATERS_X: ..."
// or "flag --x: ..."); [Problems] splits them again. Validate checks values,
// the rules between them, and that named files exist and can be read; what
// those files hold (keys, certificates, roles) is checked by the server
// when it loads them, and reported in the same form on the same keys
// ([Config.Origin] says where a key was set).
//
// # Positions
//
// BurntSushi/toml reports the line of a syntax error but not the line of
// a key, and this package collects every problem rather than stopping at
// the first, so it does not decode into typed fields with UnmarshalText
// (which would give one line, for the first bad value only). It decodes
// into a map and asks a position scanner where each key is. That scanner
// is rbac's [rbac.ScanTOML], written for the roles file, which needs the
// same thing inside arrays of tables: one scanner for both files. It lives
// in rbac because the imports run one way, server → rbac: server/config may
// import rbac, but rbac may not import anything of server's, and the top
// level of the tree has no room for a package of its own.
//
// # Concurrency
//
// A Config is a plain value. Load builds it; after that it is only read,
// and copies may be read concurrently.
package config
