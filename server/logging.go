package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"amaters-server/logrot"
	"amaters-server/server/config"
)

// rotationOptions maps the [logging] section onto a rotating writer's
// options; the server log and the audit log share them.
func rotationOptions(c *config.Config, now func() time.Time) logrot.Options {
	rot, _ := logrot.ParseRotation(c.Logging.Rotation) // validated
	return logrot.Options{
		MaxSize:    c.Logging.MaxSizeMB << 20,
		Rotation:   rot,
		MaxBackups: int(c.Logging.MaxBackups),
		MaxAge:     time.Duration(c.Logging.MaxAgeDays) * 24 * time.Hour,
		Compress:   c.Logging.Compress,
		FileMode:   0o600,
		Clock:      now,
		Fallback:   os.Stderr, // a line the file refused is not lost
	}
}

// logOutput is where the server's log goes: stderr, or the rotating file
// of logging.file. Run opens it first and closes it last, so that the
// last lines of the shutdown are written.
type logOutput struct {
	// logger writes in the configured format and level.
	logger *slog.Logger
	// access writes the access log to the same place, through a
	// lineBuffer: in batches rather than one write per request.
	access *accessWriter
	buf    *lineBuffer
	file   *logrot.Writer // nil when logging to stderr
	lock   io.Closer      // the log file's lock, nil without file
	level  *slog.LevelVar // both loggers' level, set by a reload
}

// openLog opens the log output the configuration asks for; stderr is used
// when logging.file is not set.
func openLog(cfg config.Config, stderr io.Writer) (*logOutput, error) {
	var w io.Writer = stderr
	var file *logrot.Writer
	var lock io.Closer
	if cfg.Logging.File != "" {
		opts := rotationOptions(&cfg, time.Now)
		opts.Fallback = stderr // a line the file refused is not lost
		var err error
		if file, err = logrot.New(cfg.Logging.File, opts); err != nil {
			return nil, err
		}
		// Two servers never write one log (lock.go).
		if lock, err = lockLogFile(cfg.Logging.File, "logging.file"); err != nil {
			file.Close()
			return nil, err
		}
		w = file
	}
	buf := newLineBuffer(w)
	level := logLevel(cfg)
	return &logOutput{
		logger: newLogger(w, cfg, level),
		access: &accessWriter{w: buf, json: cfg.Observability.LogFormat == "json", level: level},
		buf:    buf, file: file, lock: lock, level: level,
	}, nil
}

// Reopen reopens the log file (after an external logrotate moved it),
// first writing out the access lines still buffered for the old one.
func (l *logOutput) Reopen() error {
	if l == nil || l.file == nil {
		return nil
	}
	l.buf.Flush()
	return l.file.Reopen()
}

// Flush writes out the access lines still buffered.
func (l *logOutput) Flush() {
	if l != nil {
		l.buf.Flush()
	}
}

// Close flushes the access log and closes the log file, if any.
func (l *logOutput) Close() error {
	if l == nil {
		return nil
	}
	err := l.buf.Close()
	if l.file != nil {
		err = errors.Join(err, l.file.Close())
	}
	if l.lock != nil {
		err = errors.Join(err, l.lock.Close())
	}
	return err
}

// writerHealth describes a rotating writer for /health: "ok", or the count
// and the last of its errors.
func writerHealth(w *logrot.Writer) string {
	if w == nil {
		return "ok"
	}
	st := w.Stats()
	n := st.WriteErrors + st.RotateErrors + st.BackgroundErrors
	if n == 0 || st.LastError == nil {
		return "ok"
	}
	return "failing: " + st.LastError.Error()
}

// withAccessLog logs one line per API request: method, route pattern (not
// the raw path: keys may be sensitive), collection, status, the error code
// of an error answer, bytes in and out, duration, identity, request id and
// remote address. Never values, tokens or keys.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		ex := exchangeFrom(r)
		status := ex.code()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		if s.fastAccess != nil {
			if s.fastAccess.enabled(level) {
				s.fastAccess.write(&accessRecord{
					time: s.now(), level: level, requestID: ex.id, method: r.Method,
					route: ex.route, collection: ex.collection, status: status, code: ex.errCode,
					bytesIn: ex.body.read, bytesOut: ex.bytes,
					duration: s.now().Sub(ex.start), identity: ex.who.name(), remote: r.RemoteAddr,
				})
			}
			return
		}
		if !s.access.Enabled(r.Context(), level) {
			return
		}
		attrs := make([]slog.Attr, 0, 11)
		attrs = append(attrs,
			slog.String("request_id", ex.id),
			slog.String("method", r.Method),
			slog.String("route", ex.route),
			slog.String("collection", ex.collection),
			slog.Int("status", status))
		if ex.errCode != "" {
			attrs = append(attrs, slog.String("code", ex.errCode))
		}
		attrs = append(attrs,
			slog.Int64("bytes_in", ex.body.read),
			slog.Int64("bytes_out", ex.bytes),
			slog.Duration("duration", s.now().Sub(ex.start)),
			slog.String("identity", ex.who.name()),
			slog.String("remote", r.RemoteAddr))
		s.access.LogAttrs(r.Context(), level, "request", attrs...)
	})
}
