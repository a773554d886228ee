package server

import (
	"net/http"
	"slices"
	"strings"

	"amaters-server/server/config"
)

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
const corsMaxAge = "600"

// corsPolicy is the CORS part of the live configuration.
type corsPolicy struct {
	origins      []string
	any          bool   // "*" is among the origins
	allowHeaders string // for preflight answers
}

func newCORSPolicy(c *config.Config) corsPolicy {
	return corsPolicy{
		origins:      c.Middleware.CORSOrigins,
		any:          slices.Contains(c.Middleware.CORSOrigins, "*"),
		allowHeaders: strings.Join([]string{"Authorization", "Content-Type", "Content-Encoding", c.Auth.APIKeyHeader, "X-Request-Id", "If-Match", "If-None-Match", "Last-Event-ID"}, ", "),
	}
}

// withCORS answers cross-origin requests from middleware.cors_origins
// (exact origins, or "*"). A preflight (OPTIONS with
// Access-Control-Request-Method) from an allowed origin is answered 204
// here, before authentication, since browsers send no credentials with it.
// Other origins get no CORS headers at all, so browsers refuse the answer.
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &s.live.Load().cors
		if len(p.origins) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !(p.any || slices.Contains(p.origins, origin)) {
			next.ServeHTTP(w, r)
			return
		}
		allowOrigin := origin
		if p.any {
			allowOrigin = "*"
		}
		h.Set("Access-Control-Allow-Origin", allowOrigin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, DELETE, POST")
			h.Set("Access-Control-Allow-Headers", p.allowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After, WWW-Authenticate, ETag, Amaters-Revision, Amaters-Expires-At, Amaters-Outcome, Amaters-Leader")
		next.ServeHTTP(w, r)
	})
}
