package server

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"amaters-server/logrot"
	"amaters-server/server/config"
)

// accessWriter writes access-log lines straight into a buffer, in the same
// text or JSON shape as the slog handlers of the server log, at a fraction
// of slog's cost: the access log writes one line per request.
type accessWriter struct {
	w     io.Writer // a lineBuffer
	json  bool
	level *slog.LevelVar
	bufs  sync.Pool // of *[]byte
}

func (a *accessWriter) enabled(l slog.Level) bool { return l >= a.level.Level() }

// accessRecord is one line's fields.
type accessRecord struct {
	time       time.Time
	level      slog.Level
	requestID  string
	method     string
	route      string
	collection string
	status     int
	code       string // the error code of an error answer; omitted when ""
	bytesIn    int64
	bytesOut   int64
	duration   time.Duration
	identity   string
	remote     string
}

func (a *accessWriter) write(r *accessRecord) {
	bp, _ := a.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := (*bp)[:0]
	if a.json {
		b = append(b, `{"time":"`...)
		b = r.time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","level":"`...)
		b = append(b, r.level.String()...)
		b = append(b, `","msg":"request"`...)
		b = jsonField(b, "request_id", r.requestID)
		b = jsonField(b, "method", r.method)
		b = jsonField(b, "route", r.route)
		b = jsonField(b, "collection", r.collection)
		b = jsonInt(b, "status", int64(r.status))
		if r.code != "" {
			b = jsonField(b, "code", r.code)
		}
		b = jsonInt(b, "bytes_in", r.bytesIn)
		b = jsonInt(b, "bytes_out", r.bytesOut)
		// JSON durations name their unit (see durationMillis).
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendFloat(b, float64(r.duration)/1e6, 'g', -1, 64)
		b = jsonField(b, "identity", r.identity)
		b = jsonField(b, "remote", r.remote)
		b = append(b, "}\n"...)
	} else {
		b = append(b, "time="...)
		b = r.time.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, " level="...)
		b = append(b, r.level.String()...)
		b = append(b, " msg=request"...)
		b = textField(b, "request_id", r.requestID)
		b = textField(b, "method", r.method)
		b = textField(b, "route", r.route)
		b = textField(b, "collection", r.collection)
		b = textInt(b, "status", int64(r.status))
		if r.code != "" {
			b = textField(b, "code", r.code)
		}
		b = textInt(b, "bytes_in", r.bytesIn)
		b = textInt(b, "bytes_out", r.bytesOut)
		b = textField(b, "duration", r.duration.String())
		b = textField(b, "identity", r.identity)
		b = textField(b, "remote", r.remote)
		b = append(b, '\n')
	}
	a.w.Write(b) // errors are the destination's to count (logrot)
	*bp = b
	a.bufs.Put(bp)
}

func textInt(b []byte, key string, v int64) []byte {
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	return strconv.AppendInt(b, v, 10)
}

// textField writes key=value, quoting the value as slog's text handler
// does when it is empty or holds spaces, '=', '"' or anything not plain
// printable ASCII.
func textField(b []byte, key, v string) []byte {
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	if needsQuote(v) {
		return strconv.AppendQuote(b, v)
	}
	return append(b, v...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '=' || c == '"' || c >= 0x7f {
			return true
		}
	}
	return false
}

func jsonInt(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

// jsonField writes ,"key":"value" with the value escaped as JSON; invalid
// UTF-8 becomes U+FFFD.
func jsonField(b []byte, key, v string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':', '"')
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, v[i:i+size]...)
			}
			i += size
		}
	}
	return append(b, '"')
}

// durationMillis is the ReplaceAttr of the JSON log: a duration, which
// slog writes as a bare count of nanoseconds, becomes KEY_ms, a number of
// milliseconds, so that the line names its unit. (The text log writes
// durations as "1.5ms", unit included.)
func durationMillis(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key+"_ms", float64(a.Value.Duration())/1e6)
	}
	return a
}

// openAccessLog opens observability.access_log_file: a rotating file (the
// [logging] rotation settings) of its own, written in batches like the
// access log in the server log. Its Flush, Reopen and Close are those of
// the server log's output.
func openAccessLog(cfg config.Config, stderr io.Writer) (*logOutput, error) {
	opts := rotationOptions(&cfg, time.Now)
	opts.Fallback = stderr // a line the file refused is not lost
	file, err := logrot.New(cfg.Observability.AccessLogFile, opts)
	if err != nil {
		return nil, fmt.Errorf("open the access log file %s: %w", cfg.Observability.AccessLogFile, err)
	}
	// Two servers never write one log (lock.go).
	lock, err := lockLogFile(cfg.Observability.AccessLogFile, "observability.access_log_file")
	if err != nil {
		file.Close()
		return nil, err
	}
	buf := newLineBuffer(file)
	level := logLevel(cfg)
	return &logOutput{
		access: &accessWriter{w: buf, json: cfg.Observability.LogFormat == "json", level: level},
		buf:    buf, file: file, lock: lock, level: level,
	}, nil
}
