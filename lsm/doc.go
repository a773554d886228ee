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
// Memory is proportional to the data in flight: a memtable's arenas grow
// in chunks as entries arrive (skiplist.go), at most two memtables exist
// (one taking writes, one being flushed), and the block cache holds the
// tables' index and filter blocks with their data blocks, within
// Options.BlockCacheSize. Data blocks are compressed with Snappy
// (Options.Compression). A memtable switch does no file creation and no
// whole-log fsync on the write path: a background goroutine prepares the
// next log and, with SyncNone, syncs the live one as it grows
// (memtable_rotate.go, wal.go). Large level-0 compactions are split into
// key ranges merged in parallel (compaction.go).
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
// leaves a state that opens, with every acknowledged write; damage that
// no crash leaves makes Open refuse (see "What Open verifies").
//
// # What Open verifies
//
// Open proves, before it changes anything, that the database it is about
// to serve is the one it acknowledged; otherwise it refuses, with a
// *[CorruptionError] naming each damaged file (restore the database from
// a backup; [Check] lists all the damage). The manifest (format 2, since
// release 0.3) records what that takes: each table's size, smallest and
// largest key and whole-file CRC-32C; the live write-ahead logs, each
// listed before anything is written to it, with how it was written
// (write(2) or a mapping), the size of a mapped log's reservation, and
// its synced size, recorded when the log is finished (at a memtable
// switch and at Close), with every flush and compaction, and at synced
// sizes 4 KiB, 8 KiB, ... doubling up to MemtableSize/8 apart; and the
// database's identity. Open then checks:
//
//   - the manifest replays, and only its last edit may be torn, by a crash
//     (cut at a page boundary); a torn edit is dropped only if everything
//     the manifest names without it is still there: a flush's or
//     compaction's edit that took effect deleted a log or tables, which
//     the checks below then find missing;
//   - CURRENT names a manifest that exists (a missing MANIFEST is reported
//     as such);
//   - every table: present, of the recorded size, its footer, index and
//     meta blocks pass their checksums, and its first and last keys are
//     the recorded ones (a table copied over another, or two swapped, are
//     refused: internal keys carry unique sequence numbers);
//   - every live log: present, not shorter than its synced size (a mapped
//     one than its reservation), intact up to it; a finished log intact
//     to its final size, with nothing but zeroes after;
//   - no log holds records the manifest does not list;
//   - a log folder of its own (Options.WALDir) is this database's: it
//     holds no manifest, and its IDENTITY file names this database.
//
// A database of release 0.2 (format 1) has no log list: the log its
// manifest's log number names must exist, and the logs from it on are
// replayed under the rules below. Its first Open writes a format-2
// manifest; release 0.2 refuses that ("unknown tag 6") rather than
// misreading it, so the way back is a backup.
//
// # What is cut, and when
//
// Only what a crash can produce, and only at the end of the newest log,
// past the part known synced, is cut (RocksDB's kAbsoluteConsistency,
// except for the torn tail record):
//
//   - a log appended with write(2) (SyncAlways, or where mapping is not
//     available) may end part-way through a record, at a page boundary
//     (4 KiB): a killed write(2) stops at one, and file systems write a
//     file's data and size back page by page. Ending anywhere else, in
//     zeroes, or with damage followed by anything is refused;
//   - a log appended through a mapping (SyncNone, SyncInterval on Linux)
//     may end in a partly copied piece followed by zeroes; damage followed
//     by intact data more than one copy piece (4 KiB) after it is refused.
//
// The cut is logged (WARN, naming the file and the bytes dropped) and
// counted in [Metrics].TornWALTails. With SyncNone and SyncInterval the
// writes since the last sync are not durable: a power cut may lose them,
// and damage to that part of the live log that a power cut could have
// left (zeroes to the end, a damaged last record) is indistinguishable
// from it.
//
// # Orphans and lost+found
//
// Open deletes only what is provably obsolete: temporary files, older
// manifests, logs below the log number, tables an edit of the manifest
// deleted, and tables numbered at or above the last next file number the
// manifest recorded (made by a flush or compaction whose edit never made
// it). A table the manifest does not list that is none of those, or a
// manifest newer than the one CURRENT names, only looks orphaned: it is
// moved to the folder lost+found in the database folder, logged, and
// counted in [Metrics].LostFoundFiles and MovedToLostFound. Nothing in
// lost+found is needed to serve the database; an operator inspects and
// removes it.
//
// # Scrubbing and damage found later
//
// Open does not read every data block; reads check each block they meet.
// With Options.ScrubInterval set, a background scrubber re-reads every
// table at Options.ScrubRate bytes per second at most, comparing the
// whole-file checksum and, where it differs or is not recorded, every
// block. Damage found by the scrubber or by any read (a Get, an iterator,
// a compaction) is counted in [Metrics].Corruptions and stays reported by
// [DB.Damage], naming the file, until the database is reopened.
//
// # Check
//
// [Check] verifies a stopped database without changing anything: the
// checks of Open, every block of every table, the whole-file checksums,
// the logs replayed read-only, and what Open would delete or move aside.
// It returns a [CheckReport] of findings (damage, and notes such as a
// torn tail Open would cut), and refuses a folder a process holds.
//
// # Locks
//
// Open locks the database folder, and the log folder when it is another
// one, with a LOCK file holding the holder's process ID: a second Open of
// either, by any process, fails with a *[LockedError] naming the folder
// and that process. Two databases can never share a folder, and a new
// database is refused a log folder another one's IDENTITY names. Files
// are created 0600 and folders 0700.
//
// # Errors
//
// Every block of every file carries a CRC-32C, checked on read. A failed
// check is a *[CorruptionError] naming the file and offset, matched by
// errors.Is(err, [ErrCorruption]); the DB never returns data it could not
// verify.
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
// # Why writes take no context
//
// Put, Delete and Apply may wait: while the memtable is full and the one
// before it is still being flushed, or while level 0 has too many files,
// writes stall until the flush or compaction finishes. They take no
// [context.Context] on purpose. The wait is done by the commit group's
// leader on behalf of every writer queued behind it, so one writer's
// cancellation cannot end it without failing or re-queuing the others;
// and the wait is bounded by background work that either finishes or
// fails: a flush or compaction short of disk space fails the waiting
// writes at once with the error (see nospace.go), any other failure
// stops writes with [ErrWritesStopped], and Close ends every wait with
// [ErrClosed]. A stall lasts about as long as one flush or one level-0
// compaction; Metrics counts them. A caller with a deadline can run the
// write in a goroutine of its own and stop waiting for it; the write
// still completes or fails as a whole.
//
// # Files
//
// The format packages internal/record (log framing, shared by the
// write-ahead log and the manifest) and internal/sstable document their
// byte layouts. The layout of the directory is described in manifest.go,
// the manifest's tags in version.go, and what recovery verifies in
// verify.go.
package lsm
