package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"amaters-server/server/backup"
)

// errBackupRunning answers a backup asked for while another streams.
var errBackupRunning = &apiError{status: http.StatusConflict, code: "conflict",
	message: "another backup is running; retry when it has finished"}

// backupIdle bounds how long one write of the backup stream may block: a
// client that stops reading for that long is cut off.
const backupIdle = time.Minute

// handleBackup streams an online backup, in the archive format of package
// server/backup. Reads and
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
	if !s.backupMu.TryLock() {
		return errBackupRunning
	}
	defer s.backupMu.Unlock()
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
	info := backup.Info{ServerVersion: s.opts.Version, Created: created,
		Engine: s.cfg.Storage.Engine, LastSequence: cp.Seq(), Files: len(files)}
	for _, f := range files {
		info.Bytes += f.Size
	}
	size := backup.Size(info, files)
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
	err = backup.Write(sw, info, cp)
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
	s.lastBackup.Store(s.now().Unix())
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
