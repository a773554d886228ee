// Package lsm is a log-structured merge tree: a persistent, ordered map
// of byte-string keys to byte-string values, on the standard library only.
//
// Writes go to a write-ahead log and an in-memory memtable. A full
// memtable is flushed in the background to an immutable sorted table
// (SSTable) in level 0; leveled compaction merges tables down levels 1 to
// 6, each ten times larger than the one above, dropping overwritten
// values and, at the bottom, deletion markers. A manifest log records
// which tables make up the database. Every key carries a sequence number,
// so reads, iterators and snapshots see one point in time while writes,
// flushes and compactions go on.
//
//	db, err := lsm.Open(dir, lsm.Options{})
//	err = db.Put([]byte("k"), []byte("v"))
//	v, err := db.Get([]byte("k"))
//	it := db.NewIterator(nil, nil)
//	for it.Next() { use(it.Key(), it.Value()) }
//	err = it.Close()
//	err = db.Close()
//
// # Durability
//
// Options.Sync chooses when writes are fsynced:
//
//   - [SyncAlways] (the default): a write returns after its log record is
//     fsynced. Nothing acknowledged is lost, by a process crash or a power
//     cut. Concurrent writers share one write and one fsync (group commit).
//   - [SyncInterval]: the log is fsynced every Options.SyncInterval. A
//     process crash loses nothing acknowledged; a power cut may lose the
//     last interval.
//   - [SyncNone]: the operating system decides; a power cut may lose
//     any write since the last memtable switch.
//
// New files are written under a temporary name, fsynced, renamed and their
// directory fsynced; the manifest's CURRENT pointer is switched the same
// way. A log file or table is deleted only after the manifest no longer
// needs it and no iterator or snapshot reads it. A crash at any point
// leaves a state that opens, with every acknowledged write.
//
// # Errors
//
// Every block of every file carries a CRC-32C, checked on read. A failed
// check is a *[CorruptionError] naming the file and offset, matched by
// errors.Is(err, [ErrCorruption]); the DB never returns data it could not
// verify. The only damage repaired silently is a torn tail of the newest
// log (the record being written when the process died, never
// acknowledged), which is cut and logged; see [Metrics].TornWALTails.
//
// A failed log write or fsync, or a failed flush or compaction, stops all
// later writes with [ErrWritesStopped] until the DB is reopened: after a
// failed fsync the kernel may have dropped the data, and a retry could
// acknowledge a lost write. Reads keep working. The original error stays
// wrapped, so errors.Is(err, syscall.ENOSPC) detects a full disk.
//
// # Concurrency
//
// A DB is safe for concurrent use. An [Iterator] or [Snapshot] is used by
// one goroutine at a time, but any number may be open at once. Keys and
// values passed in are copied; values returned by Get belong to the
// caller; slices from an Iterator are valid until its next call and must
// not be modified (they may be the engine's own memory).
//
// # Files
//
// The format packages internal/record (log framing, shared by the
// write-ahead log and the manifest) and internal/sstable document their
// byte layouts. The layout of the directory is described in manifest.go.
package lsm
