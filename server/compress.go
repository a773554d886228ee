package server

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// varyAcceptEncoding is the Vary header of every compressible answer.
var varyAcceptEncoding = []string{"Accept-Encoding"}

// gzipMinBytes is the smallest response worth compressing.
const gzipMinBytes = 1 << 10

// gzipWriters recycles gzip writers, whose state is ~256 KiB.
type gzipWriters struct{ pool sync.Pool }

func (p *gzipWriters) get(w io.Writer) *gzip.Writer {
	if z, ok := p.pool.Get().(*gzip.Writer); ok {
		z.Reset(w)
		return z
	}
	z, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level: no error
	return z
}

func (p *gzipWriters) put(z *gzip.Writer) { p.pool.Put(z) }

// acceptsGzip reports whether an Accept-Encoding value allows gzip (a
// q-value of 0 refuses it).
func acceptsGzip(header string) bool {
	for rest := header; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.TrimSpace(coding)
		if !strings.EqualFold(coding, "gzip") && coding != "*" {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		if q, ok := strings.CutPrefix(params, "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// withBodyLimit caps every request body at middleware.max_body_bytes and
// inflates gzip bodies (Content-Encoding: gzip), with the cap applied to the
// inflated size, so a decompression bomb is refused with 413 after reading
// at most the cap. Other content codings are refused with 415.
func (s *Server) withBodyLimit(next http.Handler) http.Handler {
	limit := s.cfg.MaxBodyBytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
		case "", "identity":
			if r.Body == nil || r.Body == http.NoBody {
				break
			}
			if r.ContentLength > limit {
				writeErrorBody(w, errTooLarge("request body is %d bytes; the limit (middleware.max_body_bytes) is %d", r.ContentLength, limit))
				return
			}
			if r.ContentLength < 0 {
				// Of unknown length (chunked): cap it. A body of known
				// length ends there, within the limit checked above.
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
		case "gzip", "x-gzip":
			if !s.cfg.Middleware.Compression {
				writeErrorBody(w, errUnsupportedEncoding("gzip request bodies are off (middleware.compression = false)"))
				return
			}
			zr, err := gzip.NewReader(http.MaxBytesReader(w, r.Body, limit))
			if err != nil {
				writeErrorBody(w, errInvalid("request body is not valid gzip"))
				return
			}
			r.Body = &inflatedBody{zr: zr, r: http.MaxBytesReader(w, io.NopCloser(zr), limit), orig: r.Body}
			r.ContentLength = -1
			r.Header.Del("Content-Encoding")
			r.Header.Del("Content-Length")
		default:
			writeErrorBody(w, errUnsupportedEncoding("Content-Encoding "+strconv.Quote(truncate(enc, 32))+" is not supported; send gzip or identity"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func errUnsupportedEncoding(msg string) *apiError {
	return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_encoding", message: msg}
}

// inflatedBody reads a gzip request body through its inflated-size cap
// and closes the original body.
type inflatedBody struct {
	zr   *gzip.Reader
	r    io.Reader
	orig io.ReadCloser
}

func (b *inflatedBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *inflatedBody) Close() error { return b.orig.Close() }

// withCompression gzips responses of at least gzipMinBytes when the client
// accepts gzip. Small answers go out as they are: compressing them costs
// more than it saves.
func (s *Server) withCompression(next http.Handler) http.Handler {
	if !s.cfg.Middleware.Compression {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := w.Header(); h["Vary"] == nil {
			h["Vary"] = varyAcceptEncoding // shared, never modified: saves an allocation
		} else {
			h.Add("Vary", "Accept-Encoding")
		}
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodHead {
			next.ServeHTTP(&headGzip{ResponseWriter: w}, r)
			return
		}
		gw := &gzipResponse{ResponseWriter: w, pool: &s.gzip}
		defer gw.finish()
		next.ServeHTTP(gw, r)
	})
}

// gzipResponse holds back the first gzipMinBytes of a response to decide
// whether to compress it.
type gzipResponse struct {
	http.ResponseWriter
	pool    *gzipWriters
	status  int
	buf     []byte
	decided bool
	z       *gzip.Writer
}

func (g *gzipResponse) WriteHeader(code int) {
	if g.status == 0 {
		g.status = code
	}
	// 1xx answers pass straight through.
	if code < 200 {
		g.ResponseWriter.WriteHeader(code)
	}
}

func (g *gzipResponse) Write(p []byte) (int, error) {
	if g.status == 0 {
		g.status = http.StatusOK
	}
	if g.decided {
		if g.z != nil {
			return g.z.Write(p)
		}
		return g.ResponseWriter.Write(p)
	}
	g.buf = append(g.buf, p...)
	if len(g.buf) >= gzipMinBytes {
		if err := g.decide(true); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// decide sends the header, compressed or not, and the held-back bytes.
func (g *gzipResponse) decide(large bool) error {
	g.decided = true
	h := g.Header()
	compress := large && h.Get("Content-Encoding") == "" && g.status != http.StatusNoContent && g.status != http.StatusNotModified
	if compress {
		h.Del("Content-Length")
		h.Set("Content-Encoding", "gzip")
		g.ResponseWriter.WriteHeader(g.status)
		g.z = g.pool.get(g.ResponseWriter)
		_, err := g.z.Write(g.buf)
		g.buf = nil
		return err
	}
	g.ResponseWriter.WriteHeader(g.status)
	_, err := g.ResponseWriter.Write(g.buf)
	g.buf = nil
	return err
}

// finish flushes what is held back and closes the gzip stream.
func (g *gzipResponse) finish() {
	if !g.decided {
		if g.status == 0 {
			return // nothing was written: net/http answers 200 itself
		}
		g.decide(false)
		return
	}
	if g.z != nil {
		g.z.Close()
		g.pool.put(g.z)
		g.z = nil
	}
}

// Flush sends what is buffered, deciding on compression from what there is.
func (g *gzipResponse) Flush() {
	if !g.decided {
		if g.status == 0 {
			g.status = http.StatusOK
		}
		g.decide(len(g.buf) >= gzipMinBytes)
	}
	if g.z != nil {
		g.z.Flush()
	}
	http.NewResponseController(g.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (g *gzipResponse) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// headGzip gives a HEAD the header fields its GET would have (RFC 9110
// §9.3.2): where the GET's answer would be gzipped, Content-Encoding:
// gzip, and no Content-Length, whose compressed value is known only by
// compressing (which a HEAD does not do).
type headGzip struct {
	http.ResponseWriter
	wrote bool
}

func (g *headGzip) WriteHeader(code int) {
	if code >= 200 && !g.wrote {
		g.wrote = true
		h := g.Header()
		if code != http.StatusNoContent && code != http.StatusNotModified && h.Get("Content-Encoding") == "" {
			if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n >= gzipMinBytes {
				h.Del("Content-Length")
				h.Set("Content-Encoding", "gzip")
			}
		}
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *headGzip) Write(p []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	return g.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (g *headGzip) Unwrap() http.ResponseWriter { return g.ResponseWriter }
