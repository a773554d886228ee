// Package sstable reads and writes sorted string tables: immutable files
// of key/value pairs in key order, with an index and a bloom filter.
//
// The package knows nothing about the database: keys are opaque bytes
// ordered by a caller-supplied Compare function, and a FilterKey function
// picks the part of a key the bloom filter sees.
//
// # Format
//
// A table is a sequence of blocks followed by a fixed-size footer:
//
//	[data block 1] ... [data block N]
//	[filter block]       bloom filter over FilterKey of every key
//	[properties block]   counts, as a block of name -> uvarint
//	[metaindex block]    "filter" and "properties" -> block handle
//	[index block]        last key of each data block -> block handle
//	[footer]             48 bytes
//
// Every block is stored as its contents followed by a 5-byte trailer: one
// compression byte and the masked CRC-32C of the stored contents and that
// byte, little-endian. A block handle is two uvarints: the offset and the
// length of the stored contents, trailer excluded. The compression byte is
// 0 for contents stored as they are, 1 for contents stored as one Snappy
// block (lsm/internal/snappy; the format of github.com/golang/snappy's
// Encode, LevelDB's kSnappyCompression). Tables written before release
// 0.4 have 0 everywhere and read unchanged. A Writer with Compression
// set compresses data blocks only, and keeps a block as it is unless
// Snappy saves at least an eighth of it (as LevelDB does); the filter,
// properties, metaindex and index blocks are never compressed.
//
// Data, index, properties and metaindex blocks share one layout. Entries
// are prefix-compressed against the previous key; every RestartInterval
// entries a restart point stores a whole key so that lookups can binary
// search:
//
//	entry:   uvarint shared | uvarint unshared | uvarint valueLen |
//	         key[shared:] | value
//	trailer: uint32 restart offset * numRestarts | uint32 numRestarts
//
// The footer is fixed-size so that a reader finds it from the file size:
//
//	metaindex offset u64 | metaindex length u64 |
//	index offset u64 | index length u64 |
//	format version u32 | masked CRC-32C of the preceding 36 bytes u32 |
//	magic u64
//
// All fixed-size integers are little-endian. All of the above is part of
// the on-disk format and never changes; a new layout gets a new version.
package sstable
