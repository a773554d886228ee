// Package logrot is a log file writer that rotates by size, hourly or
// daily, and on demand, keeps a bounded number of backups, and optionally
// compresses them.
//
// It is built for a long-running daemon: it never loses or splits a line
// around a rotation, never overwrites a backup, never truncates an existing
// log, reports its failures instead of crashing or blocking, and stops every
// goroutine it starts when it is closed. It serves the same purpose as
// gopkg.in/natefinch/lumberjack.v2 and fixes the complaints in that
// project's issue tracker.
//
//	w, err := logrot.New("/var/log/amaters/server.log", logrot.Options{
//		MaxSize:    100 << 20,
//		Rotation:   logrot.Daily,
//		MaxBackups: 10,
//		Compress:   true,
//		Fallback:   os.Stderr,
//	})
//	if err != nil { ... }
//	defer w.Close()
//	logger := slog.New(slog.NewJSONHandler(w, nil))
//
// # Rotation
//
// A write that would push the file past Options.MaxSize goes to a new file
// instead; a single write larger than MaxSize goes whole into a file of its
// own. With [Hourly] or [Daily] the first write at or after a wall-clock
// boundary (per Options.Clock, in UTC unless Options.LocalTime) starts a new
// file; a file from an earlier period found by [New] is rotated by the first
// write. An empty file is not rotated at a boundary. [Writer.Rotate] rotates
// at once. Rotation renames the file to a backup in the same directory and
// creates a new file with the same permission (or Options.FileMode).
//
// [Writer.Reopen] closes the file and opens the path again, for an external
// logrotate that moves the file and then sends SIGHUP.
//
// # Backup names
//
// For dir/server.log the backups are dir/server-2026-11-26T18-04-05.123.log:
// the moment the file was rotated out (the boundary itself for hourly and
// daily rotation), to the millisecond, in UTC unless Options.LocalTime.
// A second rotation in the same millisecond gets a sequence number,
// server-2026-11-26T18-04-05.123_0001.log, and so on; a name in use, in any
// form, is never reused. Compressed backups end in .gz, and a compression in
// progress in .gz.tmp. Names sort by time with a plain byte comparison (as
// long as fewer than 10000 rotations share a millisecond).
//
// With LocalTime the names carry no offset: across the autumn
// daylight-saving change two hours look alike and are told apart only by the
// sequence number, so UTC is the default.
//
// # Retention
//
// After each rotation, and once at start-up, a background goroutine removes
// the oldest backups beyond Options.MaxBackups and those rotated out more
// than Options.MaxAge ago (by the name, not the file time). Zero disables
// each limit, so the zero Options keeps every backup forever; set at least
// one of them. Only names of this Writer's scheme are ever removed: other
// files in the directory, including another Writer's backups, are left
// alone. Retention runs only when a rotation happens (or at start-up), not
// on a timer.
//
// # Compression
//
// With Options.Compress the same goroutine gzips each backup to
// name.gz.tmp, syncs it, renames it to name.gz, syncs the directory, and
// only then removes the plain backup, so a crash leaves either the plain
// backup or a complete .gz, never a truncated one. At start-up a leftover
// .gz.tmp next to its plain backup is removed; a .gz next to its plain
// backup is kept (and the plain one removed) only if it gunzips to the
// plain backup's length; a lone .gz.tmp that gunzips cleanly is renamed to
// .gz. [Writer.Close] interrupts a compression in progress and the next
// [New] does it again.
//
// # Concurrency
//
// A [Writer] is safe for concurrent use by multiple goroutines. Each Write
// is written whole, in one piece, to exactly one file, in the order the
// calls acquire the Writer's lock. Two Writers (or two processes) must not
// share a path.
//
// # Errors
//
// Write returns the error of the underlying file (disk full, permission),
// counts it in [Stats] and copies the data to Options.Fallback, typically
// os.Stderr. A failed rotation or reopen is counted and the writes go on into
// the current file, so no line is lost; Rotate and Reopen also return the
// error. Failures of the background goroutine, which has no caller, are
// counted in Stats.BackgroundErrors and kept in Stats.LastError. A health
// endpoint can report these counters.
package logrot
