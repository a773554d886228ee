package server

import (
	"errors"
	"net/http"
	"time"

	"amaters-server/promtext"
)

// healthHandler serves the health listener of API.md §5. It needs no
// authentication: it reveals no data, and probes must reach it.
func (s *Server) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if st := s.state.Load(); st != stateServing {
			writeText(w, http.StatusServiceUnavailable, stateName(st)+"\n")
			return
		}
		if why := s.notReady(); why != "" {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+why+"\n")
			return
		}
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", promtext.Handler(s.reg))
	// Another method on a known path is 405 with Allow (GET implies HEAD);
	// any other path is 404; both as JSON, like the API's errors.
	wrongMethod := errMethod("GET, HEAD")
	for _, p := range []string{"/livez", "/readyz", "/health", "/healthz", "/metrics"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { writeErrorBody(w, wrongMethod) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorBody(w, errRouteNotFound)
	})
	return s.withRequestID(mux)
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

type healthResponse struct {
	Status        string            `json:"status"`
	State         string            `json:"state"`
	Checks        map[string]string `json:"checks"`
	Version       string            `json:"version"`
	UptimeSeconds int64             `json:"uptime_seconds"`
	// LostFound counts the files recovery moved aside into the table
	// folder's lost+found instead of deleting them: not needed to serve,
	// for an operator to inspect and remove.
	LostFound int `json:"lost_found_files"`
}

// handleHealth reports each check; the answer is 200 only when all are ok
// and the server is serving.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	checks := map[string]string{"storage": "ok", "wal": "ok"}
	switch st {
	case stateStarting:
		checks["storage"] = "recovering"
		checks["wal"] = "recovering"
	case stateStopped:
		checks["storage"] = "closed"
		checks["wal"] = "closed"
	}
	status := http.StatusOK
	integ := s.integrity()
	if st == stateServing && integ.Damage != nil {
		// Damage found while running (a read, the scrubber): some data
		// cannot be served. It stays reported until a restart, which
		// refuses to start on it.
		checks["storage"] = "damaged: " + integ.Damage.Error() +
			"; the server refuses to serve what it cannot verify: stop it, run `" + CheckCommand(&s.cfg) +
			"`, and restore the last good backup (README: Storage integrity)"
		status = http.StatusServiceUnavailable
	}
	if st == stateServing {
		if err := s.engineStats().Err; err != nil {
			// Reads still work, but writes are refused: alert.
			switch {
			case integ.Damage != nil: // storage says damaged: the graver news
			case errors.Is(err, ErrWritesStopped):
				checks["storage"] = "writes stopped: " + err.Error()
			default:
				checks["storage"] = "disk full, writes fail until space is freed: " + err.Error()
			}
			checks["wal"] = "failing"
			status = http.StatusServiceUnavailable
		}
	}
	if s.cfg.Storage.Engine == "memory" {
		checks["wal"] = "in memory"
	}
	// Log and audit failures are reported, not fatal: the server keeps
	// serving data while its disk of logs is full.
	checks["log"] = "ok"
	if s.logOut != nil {
		checks["log"] = writerHealth(s.logOut.file)
	}
	checks["audit"] = s.audit.health()
	// The checks of Options.HealthChecks (extension.go), asked only while
	// serving: before, what they check may not be open yet.
	for _, c := range s.opts.HealthChecks {
		if st != stateServing {
			checks[c.Name] = stateName(st)
			continue
		}
		checks[c.Name] = "ok"
		if err := c.Check(); err != nil {
			checks[c.Name] = err.Error()
			status = http.StatusServiceUnavailable
		}
	}
	resp := healthResponse{
		LostFound:     integ.LostFound,
		Status:        "ok",
		State:         stateName(st),
		Checks:        checks,
		Version:       s.opts.Version,
		UptimeSeconds: int64(s.uptime() / time.Second),
	}
	if st != stateServing {
		status = http.StatusServiceUnavailable
	}
	if status != http.StatusOK {
		resp.Status = "unavailable"
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, resp)
}
