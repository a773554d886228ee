package server

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"amaters-server/blake3"
	"amaters-server/lsm"
)

// An online backup (GET /v1/admin/backup) is one tar stream (USTAR,
// regular files only, mode 0644, every mtime the backup's creation time):
//
//	amaters-backup/FORMAT        JSON BackupInfo; always the first entry
//	amaters-backup/db/<file>     every file of one lsm checkpoint, in
//	...                          lsm.Checkpoint.Files order: tables by
//	                             name, then MANIFEST-n, then CURRENT
//	amaters-backup/BLAKE3SUMS    always the last entry
//
// BLAKE3SUMS has one line per other entry, in archive order, in the format
// of the b3sum tool ("<64 lower-case hex>  <path>\n", the path relative to
// amaters-backup/), so `cd amaters-backup && b3sum --check BLAKE3SUMS`
// verifies an extracted copy. The layout is part of the backup format;
// change it only with a new BackupInfo.Format.
//
// The sums come last because they are computed while the files stream:
// the HTTP status (200) goes out before any byte is read, so a reader must
// never trust the status alone. A stream cut anywhere before the end of
// BLAKE3SUMS lacks the sums or a part of a file, and readBackup refuses it.
const (
	backupRoot  = "amaters-backup/"
	formatEntry = "FORMAT"
	sumsEntry   = "BLAKE3SUMS"
	dbPrefix    = "db/"

	// backupFormat is the version of the layout above; part of the
	// backup format, never reused for another layout.
	backupFormat = 1

	// maxFormatBytes and maxSumsBytes bound what a reader holds in
	// memory. A sums line is at most 64+2+3+255+1 bytes, so 16 MiB
	// covers some 50 000 files.
	maxFormatBytes = 64 << 10
	maxSumsBytes   = 16 << 20
	// maxBackupName is the longest file name accepted in a backup.
	maxBackupName = 255
)

// BackupInfo describes a backup: it is the archive's FORMAT entry. The
// JSON member names are part of the backup format.
type BackupInfo struct {
	// Format is the layout version, 1.
	Format int `json:"format"`
	// ServerVersion is the version of the server that wrote the backup.
	ServerVersion string `json:"server_version"`
	// Created is when the checkpoint was taken, in UTC to the second.
	Created time.Time `json:"created"`
	// Engine is the server's storage.engine (lsm or memory); either
	// restores as an lsm data folder.
	Engine string `json:"engine"`
	// LastSequence is the last write sequence number the backup may
	// hold; writes numbered above it are not in it.
	LastSequence uint64 `json:"last_sequence"`
	// Files and Bytes count the database files (the db/ entries) and
	// their total size.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// ErrBackupInvalid is returned, wrapped with the entry at fault, when a
// backup archive is not one the server wrote or was damaged: truncated, a
// checksum mismatch, a missing, extra or unsafe entry, or an unsupported
// format version.
var ErrBackupInvalid = errors.New("invalid backup")

// errBackupRunning is returned by an engine's Checkpoint while another
// backup holds one.
var errBackupRunning = &apiError{status: http.StatusConflict, code: "conflict",
	message: "another backup is running; retry when it has finished"}

// backupIdle bounds how long one write of the backup stream may block: a
// client that stops reading for that long is cut off.
const backupIdle = time.Minute

// handleBackup streams an online backup (see the layout above). Reads and
// writes go on meanwhile. Once the status is out, a failure can only be
// signalled by cutting the connection, which the client notices as a short
// or unterminated archive.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		setBackupHeaders(w.Header(), s.now(), -1)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	eng := s.eng.Load()
	if eng == nil {
		return errUnavailable("storage is not open")
	}
	// The checkpoint flushes the memtable: with writes stopped (disk
	// full, failed fsync) it fails here, before any byte is sent, and
	// writeError answers 507 or 503.
	cp, err := (*eng).Checkpoint()
	if err != nil {
		return err
	}
	defer cp.Close()

	ctx := r.Context()
	start := s.now()
	created := start.UTC().Truncate(time.Second)
	files := cp.Files()
	info := BackupInfo{Format: backupFormat, ServerVersion: Version, Created: created,
		Engine: s.cfg.Storage.Engine, LastSequence: cp.Seq(), Files: len(files)}
	for _, f := range files {
		info.Bytes += f.Size
	}
	format := encodeJSON(info)
	size := archiveSize(len(format), files)
	p := principalFrom(r)
	s.audit.record(r, p, "admin", "server", "allowed", "backup")
	s.log.InfoContext(ctx, "backup started", slog.String("request_id", requestID(ctx)),
		slog.String("identity", p.name()), slog.Int("files", info.Files),
		slog.Int64("bytes", size), slog.Uint64("last_sequence", info.LastSequence))

	rc := http.NewResponseController(w)
	// The server's WriteTimeout is sized for ordinary answers: the write
	// deadline moves forward with every write instead (streamWriter).
	// The read deadline needs nothing: net/http clears it once the
	// request is read.
	rc.SetWriteDeadline(time.Now().Add(backupIdle))
	setBackupHeaders(w.Header(), created, size)
	w.WriteHeader(http.StatusOK)
	// Flushing before the first byte of the body also makes the
	// compression middleware send it as it is: it decides on gzip from
	// what is buffered at the first flush, here nothing. A tar of
	// compressed tables gains little from gzip and would cost a core.
	rc.Flush()

	sw := &streamWriter{ctx: ctx, w: w, rc: rc}
	err = writeArchive(sw, cp.Checkpoint, files, format, created)
	if err == nil && sw.n != size {
		err = fmt.Errorf("sent %d bytes, announced %d", sw.n, size)
	}
	elapsed := s.now().Sub(start)
	if err != nil {
		s.log.WarnContext(ctx, "backup aborted", slog.String("request_id", requestID(ctx)),
			slog.Int64("bytes", sw.n), slog.Duration("duration", elapsed), slog.String("error", err.Error()))
		// The status is out: cut the connection so the client sees a
		// short body, never a complete-looking one. (The deferred Close
		// releases the checkpoint.)
		panic(http.ErrAbortHandler)
	}
	s.log.InfoContext(ctx, "backup finished", slog.String("request_id", requestID(ctx)),
		slog.Int("files", info.Files), slog.Int64("bytes", sw.n), slog.Duration("duration", elapsed))
	return nil
}

func setBackupHeaders(h http.Header, created time.Time, size int64) {
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", `attachment; filename="amaters-backup-`+created.UTC().Format("20060102T150405Z")+`.tar"`)
	h.Set("Cache-Control", "no-store")
	h["X-Content-Type-Options"] = nosniff
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
}

// streamWriter writes the backup to the client: it stops once the
// request's context ends (client gone, or server closing), and pushes the
// write deadline forward before each write, so a slow but live client is
// served however long the backup takes.
type streamWriter struct {
	ctx context.Context
	w   io.Writer
	rc  *http.ResponseController
	n   int64
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	if err := sw.ctx.Err(); err != nil {
		return 0, err
	}
	// Deadlines are wall-clock instants, hence time.Now and not the
	// server's injectable clock.
	sw.rc.SetWriteDeadline(time.Now().Add(backupIdle))
	n, err := sw.w.Write(p)
	sw.n += int64(n)
	return n, err
}

// tarBlock is the tar block size: every header is one block and every
// file's data is padded to whole blocks.
const tarBlock = 512

// archiveSize is the exact length of the archive writeArchive writes:
// USTAR headers (the names are short enough to need no extension), data
// padded to blocks, and the two zero blocks of the end.
func archiveSize(formatLen int, files []lsm.CheckpointFile) int64 {
	entry := func(n int64) int64 { return tarBlock + (n+tarBlock-1)/tarBlock*tarBlock }
	sums := sumLineLen(formatEntry)
	total := entry(int64(formatLen)) + 2*tarBlock
	for _, f := range files {
		total += entry(f.Size)
		sums += sumLineLen(dbPrefix + f.Name)
	}
	return total + entry(int64(sums))
}

func sumLineLen(path string) int { return 2*blake3.Size + 2 + len(path) + 1 }

// writeArchive writes the backup archive of the checkpoint's files to w.
func writeArchive(w io.Writer, cp *lsm.Checkpoint, files []lsm.CheckpointFile, format []byte, mtime time.Time) error {
	a := &archiveWriter{tw: tar.NewWriter(w), mtime: mtime, buf: make([]byte, 256<<10)}
	if err := a.add(formatEntry, int64(len(format)), bytes.NewReader(format)); err != nil {
		return err
	}
	for _, f := range files {
		rc, err := cp.Open(f.Name)
		if err != nil {
			return err
		}
		err = a.add(dbPrefix+f.Name, f.Size, rc)
		rc.Close() // read-only: nothing to lose
		if err != nil {
			return err
		}
	}
	sums := a.sums.Bytes()
	if err := a.add(sumsEntry, int64(len(sums)), bytes.NewReader(sums)); err != nil {
		return err
	}
	return a.tw.Close()
}

// archiveWriter writes entries and collects their BLAKE3SUMS lines.
type archiveWriter struct {
	tw    *tar.Writer
	mtime time.Time
	sums  bytes.Buffer
	buf   []byte
}

func (a *archiveWriter) add(path string, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: backupRoot + path, Size: size, Mode: 0o644,
		ModTime: a.mtime, Format: tar.FormatUSTAR}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup entry %s: %w", path, err)
	}
	h := blake3.New()
	n, err := io.CopyBuffer(io.MultiWriter(h, a.tw), io.LimitReader(r, size), a.buf)
	if err != nil {
		return fmt.Errorf("backup entry %s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("backup entry %s: read %d bytes, expected %d", path, n, size)
	}
	if path != sumsEntry {
		fmt.Fprintf(&a.sums, "%x  %s\n", h.Sum(nil), path)
	}
	return nil
}

// VerifyBackup reads a backup archive to its end and checks it: the
// layout, the FORMAT, that every entry's BLAKE3 checksum matches
// BLAKE3SUMS, and that BLAKE3SUMS lists exactly the entries present. It
// returns the archive's FORMAT. A damaged, truncated or foreign archive
// gives an error wrapping [ErrBackupInvalid] that names the entry at fault.
func VerifyBackup(r io.Reader) (BackupInfo, error) {
	return readBackup(r, nil, nil)
}

// readBackup reads and verifies an archive. It calls onInfo (when not nil)
// with the FORMAT before any database file, and onFile (when not nil) with
// each database file's name (a safe base name) and contents; what onFile
// does not read is read for it. The checksums come last: whatever onFile
// wrote is only trustworthy once readBackup returns nil.
func readBackup(r io.Reader, onInfo func(BackupInfo) error, onFile func(name string, r io.Reader) error) (BackupInfo, error) {
	tr := tar.NewReader(r)
	var info BackupInfo
	var seen []backupEntry
	dup := map[string]bool{}
	var files int
	var total int64
	buf := make([]byte, 256<<10)
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return info, invalidBackup("", "the archive ends before %s (truncated)", sumsEntry)
		}
		if err != nil {
			return info, invalidBackup("", "after %d entries: %v", i, err)
		}
		path, ok := strings.CutPrefix(hdr.Name, backupRoot)
		if !ok {
			return info, invalidBackup("", "entry %q is outside %s", truncate(hdr.Name, 64), backupRoot)
		}
		// (The reader reports the old '\x00' type of regular files as
		// TypeReg too.)
		if hdr.Typeflag != tar.TypeReg {
			return info, invalidBackup(path, "is not a regular file")
		}
		// Plain USTAR headers, as writeArchive writes them: no PAX or GNU
		// extensions, whose sparse files could expand a small archive
		// into any amount of zeros.
		if hdr.Format != tar.FormatUSTAR {
			return info, invalidBackup(path, "has a %v header; backups are USTAR", hdr.Format)
		}
		if hdr.Size < 0 {
			return info, invalidBackup(path, "has a negative size")
		}
		var name string
		switch {
		case i == 0 && path != formatEntry:
			return info, invalidBackup(path, "is the first entry; %s must be", formatEntry)
		case i == 0:
		case path == sumsEntry:
		case strings.HasPrefix(path, dbPrefix):
			name = path[len(dbPrefix):]
			if err := checkBackupName(name); err != nil {
				return info, invalidBackup(truncate(path, 64), "%v", err)
			}
			if dup[name] {
				return info, invalidBackup(path, "appears twice")
			}
			dup[name] = true
			files++
			total += hdr.Size
			if files > info.Files || total > info.Bytes {
				return info, invalidBackup(path, "is beyond the %d files of %d bytes that %s announces", info.Files, info.Bytes, formatEntry)
			}
		default:
			return info, invalidBackup(truncate(path, 64), "is not part of a backup")
		}

		if path == formatEntry || path == sumsEntry {
			limit := int64(maxFormatBytes)
			if path == sumsEntry {
				limit = maxSumsBytes
			}
			if hdr.Size > limit {
				return info, invalidBackup(path, "is %d bytes; the limit is %d", hdr.Size, limit)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return info, invalidBackup(path, "%v", err)
			}
			if path == sumsEntry {
				if err := checkSums(data, seen); err != nil {
					return info, err
				}
				if files != info.Files || total != info.Bytes {
					return info, invalidBackup(formatEntry, "announces %d files of %d bytes; the archive holds %d files of %d bytes", info.Files, info.Bytes, files, total)
				}
				return info, checkEnd(tr, r)
			}
			if info, err = decodeBackupInfo(data); err != nil {
				return info, err
			}
			if onInfo != nil {
				if err := onInfo(info); err != nil {
					return info, err
				}
			}
			seen = append(seen, backupEntry{path: path, sum: blake3.Sum256(data)})
			continue
		}

		h := blake3.New()
		src := &readErr{r: io.TeeReader(tr, h)}
		if onFile != nil {
			if err := onFile(name, src); err != nil {
				if src.err != nil && src.err != io.EOF { // the archive's fault
					return info, invalidBackup(path, "%v", src.err)
				}
				return info, err
			}
		}
		// Whatever onFile left, and the whole file when there is none.
		if _, err := io.CopyBuffer(io.Discard, src, buf); err != nil {
			return info, invalidBackup(path, "%v", err)
		}
		e := backupEntry{path: path}
		h.Sum(e.sum[:0])
		seen = append(seen, e)
	}
}

// readErr remembers its reader's error, so that readBackup can tell a
// damaged archive from a failure of its onFile.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// backupEntry is an entry read from an archive, with its checksum.
type backupEntry struct {
	path string
	sum  [blake3.Size]byte
}

// checkSums checks BLAKE3SUMS against the entries read: the same paths in
// the same order, each with its checksum.
func checkSums(data []byte, seen []backupEntry) error {
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		hexSum, path, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		if !ok || !strings.HasSuffix(line, "\n") || len(hexSum) != 2*blake3.Size || strings.ToLower(hexSum) != hexSum {
			return invalidBackup(sumsEntry, "line %d is not \"<64 hex digits>  <path>\"", i+1)
		}
		var sum [blake3.Size]byte
		if _, err := hex.Decode(sum[:], []byte(hexSum)); err != nil {
			return invalidBackup(sumsEntry, "line %d is not \"<64 hex digits>  <path>\"", i+1)
		}
		if i >= len(seen) {
			return invalidBackup(truncate(path, 64), "is listed in %s but not in the archive", sumsEntry)
		}
		if path != seen[i].path {
			return invalidBackup(seen[i].path, "is in the archive but %s line %d names %q", sumsEntry, i+1, truncate(path, 64))
		}
		if sum != seen[i].sum {
			return invalidBackup(path, "does not match its BLAKE3 checksum in %s: the file is damaged", sumsEntry)
		}
	}
	if len(lines) < len(seen) {
		return invalidBackup(seen[len(lines)].path, "is in the archive but not listed in %s", sumsEntry)
	}
	return nil
}

// checkEnd checks that BLAKE3SUMS is the last entry and that nothing but
// zero padding follows the archive's end.
func checkEnd(tr *tar.Reader, r io.Reader) error {
	hdr, err := tr.Next()
	switch {
	case err == nil:
		return invalidBackup(truncate(strings.TrimPrefix(hdr.Name, backupRoot), 64), "follows %s, which must be last", sumsEntry)
	case err != io.EOF:
		return invalidBackup(sumsEntry, "after it: %v", err)
	}
	var buf [4096]byte
	for {
		n, err := r.Read(buf[:])
		if slices.ContainsFunc(buf[:n], func(b byte) bool { return b != 0 }) {
			return invalidBackup("", "data follows the end of the archive")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read backup: %w", err)
		}
	}
}

func decodeBackupInfo(data []byte) (BackupInfo, error) {
	var info BackupInfo
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&info); err != nil {
		return info, invalidBackup(formatEntry, "is not valid JSON: %v", err)
	}
	if dec.More() {
		return info, invalidBackup(formatEntry, "has data after its JSON object")
	}
	switch {
	case info.Format != backupFormat:
		return info, invalidBackup(formatEntry, "is format version %d; this amaters-server %s reads version %d", info.Format, Version, backupFormat)
	case info.Files < 2 || info.Bytes < 0:
		// A checkpoint has at least a manifest and CURRENT.
		return info, invalidBackup(formatEntry, "announces %d files of %d bytes", info.Files, info.Bytes)
	}
	return info, nil
}

// checkBackupName accepts the base names a database folder holds, and
// nothing that could leave the folder or surprise a shell: letters,
// digits, '.', '-' and '_', not starting with '.'.
func checkBackupName(name string) error {
	if name == "" || len(name) > maxBackupName || name[0] == '.' {
		return errors.New("is not a database file name")
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return errors.New("is not a database file name")
		}
	}
	return nil
}

// invalidBackup is an error wrapping ErrBackupInvalid that names the entry
// at fault ("" for the archive as a whole).
func invalidBackup(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + " " + msg
	}
	return fmt.Errorf("%w: %s", ErrBackupInvalid, msg)
}
