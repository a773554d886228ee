package server

import (
	"net"
	"net/http"
	"time"
)

// healthPortHeader is the header of the answer to POST
// /v1/admin/shutdown that names the health listener's port (client.HealthPortHeader
// on the client's side).
const healthPortHeader = "Amaters-Health-Port"

// statusResponse is the body of GET /v1/status (API.md §3); client.Status
// decodes it.
type statusResponse struct {
	Name           string         `json:"name"`
	Version        string         `json:"version"`
	State          string         `json:"state"`
	Engine         string         `json:"engine"`
	UptimeSeconds  int64          `json:"uptime_seconds"`
	Connections    int64          `json:"connections"`
	MaxConnections int64          `json:"max_connections"`
	RateLimit      rateLimitState `json:"rate_limit"`
}

// rateLimitState is the rate_limit member of [statusResponse].
type rateLimitState struct {
	Enabled  bool   `json:"enabled"`
	RPS      int64  `json:"rps"`
	Burst    int64  `json:"burst"`
	Clients  int    `json:"clients"`
	Rejected uint64 `json:"rejected"`
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, statusResponse{
		Name:           s.opts.Name,
		Version:        s.opts.Version,
		State:          stateName(s.state.Load()),
		Engine:         s.cfg.Storage.Engine,
		UptimeSeconds:  int64(s.uptime() / time.Second),
		Connections:    s.conns.Load(),
		MaxConnections: s.cfg.Network.MaxConnections,
		RateLimit:      s.rateLimitStatus(),
	})
	return nil
}

// handleShutdown answers 202 and then starts the graceful shutdown; the
// answer goes out before the listener closes.
func (s *Server) handleShutdown(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r)
	s.log.InfoContext(r.Context(), "shutdown requested", "request_id", requestID(r.Context()), "identity", p.name(), "remote", r.RemoteAddr)
	s.audit.record(r, p, "admin", "server", "allowed", "shutdown")
	// The health port lets `amaters-server stop` wait for the whole
	// process: the health listener closes only after the storage is
	// closed. A header, so the body stays API.md's.
	if _, port, err := net.SplitHostPort(s.HealthAddr()); err == nil {
		w.Header().Set(healthPortHeader, port)
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"state": "draining"})
	http.NewResponseController(w).Flush()
	s.RequestShutdown()
	return nil
}

func (s *Server) rateLimitStatus() rateLimitState {
	l := s.live.Load().limiters
	st := rateLimitState{Enabled: l != nil}
	if l != nil {
		st.RPS, st.Burst = int64(l.rps), int64(l.burst)
		st.Clients, st.Rejected = l.clients(), l.rejected.Load()
	}
	return st
}
