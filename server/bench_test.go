package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkChain measures one request through the whole API chain
// in-process (no network), for the hot paths of the load check.
func BenchmarkChain(b *testing.B) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		level  slog.Level
	}{
		{"off", func(c *Config) { c.Middleware.RateLimitRPS = 0; c.Middleware.Compression = false }, slog.LevelWarn},
		{"full", func(c *Config) {
			c.Middleware.RateLimitRPS = 1e9
			c.Middleware.CORSOrigins = []string{"https://a.example"}
		}, slog.LevelInfo},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Default()
			cfg.Server.DataDir = b.TempDir()
			cfg.Storage.Engine = "memory"
			tc.mutate(&cfg)
			s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: tc.level}))})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.openStorage(); err != nil {
				b.Fatal(err)
			}
			s.state.Store(stateServing)
			h := s.apiHandler()
			put := httptest.NewRequest("PUT", "/v1/collections/bench/keys/hot", bytes.NewReader(bytes.Repeat([]byte("v"), 100)))
			put.RemoteAddr = "127.0.0.1:1"
			h.ServeHTTP(httptest.NewRecorder(), put)
			b.Run("GET", func(b *testing.B) {
				req := httptest.NewRequest("GET", "/v1/collections/bench/keys/hot", nil)
				req.RemoteAddr = "127.0.0.1:1"
				req.Header.Set("Origin", "https://a.example")
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
