package promtext

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// ContentType is the Content-Type of text format 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler returns an HTTP handler that serves the exposition of r. It
// answers GET and HEAD (405 otherwise), sets [ContentType], and compresses
// the body with gzip when the request's Accept-Encoding allows it.
// The handler is safe for concurrent use.
func Handler(r *Registry) http.Handler {
	return &handler{r: r}
}

type handler struct {
	r    *Registry
	gzip sync.Pool // of *gzip.Writer, which are large to allocate
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	bp := h.r.buffer()
	defer h.r.spare.Store(bp)
	*bp = h.r.AppendText((*bp)[:0])

	hdr := w.Header()
	hdr.Set("Content-Type", ContentType)
	hdr.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(req.Header.Values("Accept-Encoding")) {
		hdr.Set("Content-Length", strconv.Itoa(len(*bp)))
		w.WriteHeader(http.StatusOK)
		if req.Method == http.MethodGet {
			// A write error means the client went away; there is
			// nobody left to tell.
			_, _ = w.Write(*bp)
		}
		return
	}
	hdr.Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		return
	}
	zw, ok := h.gzip.Get().(*gzip.Writer)
	if ok {
		zw.Reset(w)
	} else {
		zw = gzip.NewWriter(w)
	}
	defer h.gzip.Put(zw)
	if _, err := zw.Write(*bp); err != nil {
		return
	}
	_ = zw.Close()
}

// acceptsGzip reports whether an Accept-Encoding header lists gzip (or *)
// with a non-zero quality.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.TrimSpace(coding)
			if !strings.EqualFold(coding, "gzip") && coding != "*" {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}
