package server

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"amaters-server/server/config"
)

// BenchmarkChain measures one request through the whole API chain
// in-process (no network), for the hot paths of the load check.
func BenchmarkChain(b *testing.B) {
	for _, tc := range []struct {
		name   string
		mutate func(*config.Config)
		level  slog.Level
	}{
		{"off", func(c *config.Config) { c.Middleware.RateLimitRPS = 0; c.Middleware.Compression = false }, slog.LevelWarn},
		{"full", func(c *config.Config) {
			c.Middleware.RateLimitRPS = 1e9
			c.Middleware.CORSOrigins = []string{"https://a.example"}
		}, slog.LevelInfo},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := servingInProcess(b, tc.mutate, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: tc.level})))
			h := s.apiHandler()
			putHot(h)
			b.Run("GET", func(b *testing.B) { loopGETHot(b, h, "https://a.example") })
		})
	}
}

// putHot stores a 100-byte value under bench/hot through h.
func putHot(h http.Handler) {
	put := httptest.NewRequest("PUT", "/v1/collections/bench/keys/hot", bytes.NewReader(bytes.Repeat([]byte("v"), 100)))
	put.RemoteAddr = "127.0.0.1:1"
	h.ServeHTTP(httptest.NewRecorder(), put)
}

// loopGETHot serves GET bench/hot through h once per iteration, with a
// reused request and writer (and an Origin header when origin is set), so
// that allocs/op is what h allocates per request.
func loopGETHot(b *testing.B, h http.Handler, origin string) {
	req := httptest.NewRequest("GET", "/v1/collections/bench/keys/hot", nil)
	req.RemoteAddr = "127.0.0.1:1"
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkGetCache compares GET of a hot key set through the whole chain
// with the query cache on and off.
func BenchmarkGetCache(b *testing.B) {
	for _, entries := range []int64{65536, 0} {
		name := "on"
		if entries == 0 {
			name = "off"
		}
		b.Run(name, func(b *testing.B) {
			s := servingInProcess(b, func(c *config.Config) {
				c.Middleware.RateLimitRPS = 0
				c.Cache.MaxEntries = entries
			}, slog.New(slog.DiscardHandler))
			h := s.apiHandler()
			const hot = 64
			reqs := make([]*http.Request, hot)
			for i := range hot {
				path := fmt.Sprintf("/v1/collections/bench/keys/hot-%d", i)
				put := httptest.NewRequest("PUT", path, bytes.NewReader(bytes.Repeat([]byte("v"), 100)))
				put.RemoteAddr = "127.0.0.1:1"
				h.ServeHTTP(httptest.NewRecorder(), put)
				reqs[i] = httptest.NewRequest("GET", path, nil)
				reqs[i].RemoteAddr = "127.0.0.1:1"
			}
			// Spread the hot keys over many tables, as on a loaded server.
			(*s.eng.Load()).(*lsmEngine).db.Flush()
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, reqs[i%hot])
				i++
			}
		})
	}
}

// BenchmarkCachedGET is one GET of a cached 100-byte value through the
// whole API chain at the defaults that matter for throughput (query cache
// and compression on, access log off by level, no rate limit), with a
// reused request and writer, so that allocs/op is what the chain itself
// allocates per request.
func BenchmarkCachedGET(b *testing.B) {
	s := servingInProcess(b, func(c *config.Config) { c.Middleware.RateLimitRPS = 0 }, slog.New(slog.DiscardHandler))
	h := s.apiHandler()
	putHot(h)
	loopGETHot(b, h, "")
}

// BenchmarkKeyRouting compares the router with the fast path of the key
// routes against ServeMux alone, for a cached GET behind the two steps the
// handlers need (request id, authentication).
func BenchmarkKeyRouting(b *testing.B) {
	s := servingInProcess(b, func(c *config.Config) { c.Middleware.RateLimitRPS = 0 }, slog.New(slog.DiscardHandler))
	putHot(s.apiHandler())
	for _, fast := range []bool{true, false} {
		name := "fast"
		if !fast {
			name = "servemux"
		}
		b.Run(name, func(b *testing.B) {
			loopGETHot(b, s.withRequestID(s.withAuthentication(s.newAPIRouter(fast))), "")
		})
	}
}

// BenchmarkPUT is one PUT of a 100-byte value to one of 10 000 keys
// through the whole API chain at the defaults that matter for throughput
// (query cache on, access log off by level, no rate limit), for each
// engine, with a reused writer, so that the profile shows what the server
// itself spends on a write.
func BenchmarkPUT(b *testing.B) {
	for _, tc := range []struct{ name, engine, sync string }{
		{"memory", "memory", "always"},
		{"lsm-none", "lsm", "none"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := servingInProcess(b, func(c *config.Config) {
				c.Middleware.RateLimitRPS = 0
				c.Storage.Engine, c.Storage.Sync = tc.engine, tc.sync
			}, slog.New(slog.DiscardHandler))
			h := s.apiHandler()
			value := bytes.Repeat([]byte("v"), 100)
			body := bytes.NewReader(value)
			w := &discardWriter{h: http.Header{}}
			reqs := make([]*http.Request, 10000)
			for i := range reqs {
				reqs[i] = httptest.NewRequest("PUT", fmt.Sprintf("/v1/collections/bench/keys/k%05d", i), nil)
				reqs[i].RemoteAddr = "127.0.0.1:1"
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := reqs[i%len(reqs)]
				body.Reset(value)
				r.Body = io.NopCloser(body)
				r.ContentLength = int64(len(value))
				clear(w.h)
				h.ServeHTTP(w, r)
				i++
			}
		})
	}
}
