// Package record reads and writes sequences of records, the framing shared
// by the write-ahead log and the manifest.
//
// It is called "record" rather than "log" because the same framing holds
// two different logs, and because a record here is an opaque byte string:
// the package knows nothing about batches or version edits.
//
// # Format
//
// A file is a sequence of 32 KiB blocks; only the last may be short. Each
// record is split into one or more chunks so that no chunk crosses a block
// boundary. A chunk is a 7-byte header followed by its payload:
//
//	+----------+-----------+--------+--- ... ---+
//	| CRC (4B) | Size (2B) | Type   | Payload   |
//	+----------+-----------+--------+--- ... ---+
//
// CRC is the CRC-32C (Castagnoli) of Type and Payload, masked as in
// LevelDB, little-endian. Size is the payload length, little-endian. Type
// is 1 (full: the whole record), 2 (first), 3 (middle) or 4 (last). When
// fewer than 7 bytes remain in a block they are zero filler, and the next
// chunk starts in the next block. This is the LevelDB log format; it is
// part of the on-disk format and never changes.
//
// # Torn tails
//
// A crash can leave a partly written last record. [Reader.Next] reports
// problems as *[CorruptError] with the offset of the bad chunk, and marks
// it Truncated when the file just ends early (or holds only zeroes from
// there on), which is what an interrupted append looks like. A checksum
// mismatch on a complete chunk is never treated as a torn tail: that is
// damage, even at the end of the file.
package record
