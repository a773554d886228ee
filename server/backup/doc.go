// Package backup is amaters-server's backup archive: its format, a writer
// that archives a checkpoint of the storage engine, a reader that verifies
// every byte against the archive's BLAKE3 sums, the saving of a downloaded
// archive to a file, and the offline restore of an archive into a data
// folder. The server streams [Write]'s output from GET /v1/admin/backup;
// the backup command saves it through [Create] and [Verify] (package
// server/client); the restore command runs [Restore].
//
// # Format
//
// A backup is one tar stream (USTAR, regular files only, mode 0644, every
// mtime the backup's creation time):
//
//	amaters-backup/FORMAT        JSON Info; always the first entry
//	amaters-backup/db/<file>     every file of one lsm checkpoint, in
//	...                          lsm.Checkpoint.Files order: tables by
//	                             name, then MANIFEST-n, then CURRENT
//	amaters-backup/BLAKE3SUMS    always the last entry
//
// BLAKE3SUMS has one line per other entry, in archive order, in the format
// of the b3sum tool ("<64 lower-case hex>  <path>\n", the path relative to
// amaters-backup/), so `cd amaters-backup && b3sum --check BLAKE3SUMS`
// verifies an extracted copy. The layout is part of the backup format;
// change it only with a new Info.Format.
//
// The sums come last because they are computed while the files stream:
// the HTTP status (200) goes out before any byte is read, so a reader must
// never trust the status alone. A stream cut anywhere before the end of
// BLAKE3SUMS lacks the sums or a part of a file, and [Verify] refuses it.
//
// The db/ files are an lsm database folder: [Restore] puts them where a
// server with server.data_dir = DIR opens them (DIR/db), with no write-ahead
// log, whichever storage.engine wrote the backup.
//
// # Errors
//
// A damaged, truncated or foreign archive gives an error wrapping
// [ErrInvalid] that names the entry at fault. [Restore] into a folder that
// is not new or empty gives [ErrNotEmpty] and writes nothing.
//
// # Concurrency
//
// The functions are safe for concurrent use on distinct files and
// streams; an [Output] is used by one goroutine.
package backup
