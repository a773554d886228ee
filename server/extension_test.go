package server_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"amaters-server/promtext"
	"amaters-server/promtext/promtexttest"
	"amaters-server/server"
	"amaters-server/server/config"
)

// clusterRoutes are routes shaped like the cluster edition's (API.md §9).
func clusterRoutes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/v1/cluster", Permission: server.PermissionNone, Handler: func(w http.ResponseWriter, r *http.Request) error {
			server.WriteJSON(w, 200, map[string]any{"id": 1, "leader": 2})
			return nil
		}},
		{Method: "GET", Path: "/v1/cluster/debug", Permission: server.PermissionRead, Query: true, Handler: func(w http.ResponseWriter, r *http.Request) error {
			server.WriteJSON(w, 200, map[string]string{"q": r.URL.Query().Get("q")})
			return nil
		}},
		{Method: "POST", Path: "/v1/admin/cluster/members", Permission: server.PermissionAdmin, Handler: func(w http.ResponseWriter, r *http.Request) error {
			var req struct {
				PeerURL string `json:"peer_url"`
			}
			if err := server.ReadJSON(r, &req); err != nil {
				return err
			}
			server.WriteJSON(w, 201, map[string]any{"id": 4, "peer_url": req.PeerURL, "role": "learner"})
			return nil
		}},
		{Method: "DELETE", Path: "/v1/admin/cluster/members/{id}", Permission: server.PermissionAdmin, Handler: func(w http.ResponseWriter, r *http.Request) error {
			switch r.PathValue("id") {
			case "4":
				w.WriteHeader(204)
				return nil
			case "boom":
				return errors.New("secret internals")
			case "noquorum":
				return server.ErrUnavailable
			}
			return server.HTTPError(404, "not_found", "no member "+r.PathValue("id"))
		}},
	}
}

const extensionRoles = `
[[roles]]
name = "operator"
permissions = [{ resource = "server", actions = ["read"] }]
`

// TestExtraRoutes: routes of Options.Routes go through authentication,
// authorization by their permission, the audit log, metrics and the
// response header hook, and their errors are answered as the server's.
func TestExtraRoutes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "roles.toml", extensionRoles)
	var leader atomic.Value
	leader.Store("2")
	opts := server.Options{
		Logger: discardLogger(),
		Routes: clusterRoutes(),
		ResponseHeaders: func(h http.Header) {
			h["Amaters-Leader"] = []string{leader.Load().(string)}
		},
	}
	ts := startServerWith(t, opts, func(c *config.Config) {
		c.Auth.JWTSecret = testSecret
		c.Authz.RolesFile = filepath.Join(dir, "roles.toml")
		c.Server.DataDir = filepath.Join(dir, "data")
	})
	reader := bearer(token(t, "rita", []string{"reader"}, []string{"a"}))
	operator := bearer(token(t, "otto", []string{"operator"}, nil))
	admin := bearer(token(t, "ada", []string{"admin"}, nil))
	members := ts.api + "/v1/admin/cluster/members"

	// Without credentials: 401, with the hook's header all the same.
	r := do(t, "GET", ts.api+"/v1/cluster", nil)
	wantError(t, r, 401, "unauthenticated")
	if r.header.Get("Amaters-Leader") != "2" {
		t.Errorf("401 without Amaters-Leader: %v", r.header)
	}
	leader.Store("3")
	// PermissionNone: any identity.
	r = do(t, "GET", ts.api+"/v1/cluster", nil, reader...)
	if r.status != 200 || !strings.Contains(string(r.body), `"leader":2`) || r.header.Get("Amaters-Leader") != "3" {
		t.Fatalf("GET /v1/cluster as a reader: %d %s %v", r.status, r.body, r.header)
	}
	// The server's own answers carry it too.
	if r := do(t, "GET", ts.api+"/v1/status", nil, reader...); r.header.Get("Amaters-Leader") != "3" {
		t.Errorf("GET /v1/status without Amaters-Leader: %v", r.header)
	}
	// PermissionRead: read on the server.
	wantError(t, do(t, "GET", ts.api+"/v1/cluster/debug", nil, reader...), 403, "permission_denied")
	if r := do(t, "GET", ts.api+"/v1/cluster/debug?q=x", nil, operator...); r.status != 200 || !strings.Contains(string(r.body), `"q":"x"`) {
		t.Fatalf("operator: %d %s", r.status, r.body)
	}
	// PermissionAdmin.
	for _, who := range [][]string{reader, operator} {
		wantError(t, do(t, "POST", members, []byte(`{"peer_url":"http://x:7880"}`), who...), 403, "permission_denied")
		wantError(t, do(t, "DELETE", members+"/4", nil, who...), 403, "permission_denied")
	}
	r = do(t, "POST", members, []byte(`{"peer_url":"http://x:7880"}`), admin...)
	if r.status != 201 || !strings.Contains(string(r.body), `"peer_url":"http://x:7880"`) {
		t.Fatalf("POST members: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", members+"/4", nil, admin...); r.status != 204 {
		t.Fatalf("DELETE member: %d %s", r.status, r.body)
	}
	// Handler errors, answered as the server's own.
	wantError(t, do(t, "DELETE", members+"/9", nil, admin...), 404, "not_found")
	r = do(t, "DELETE", members+"/boom", nil, admin...)
	wantError(t, r, 500, "internal")
	if strings.Contains(string(r.body), "secret") {
		t.Errorf("a handler's error text reached the client: %s", r.body)
	}
	wantError(t, do(t, "DELETE", members+"/noquorum", nil, admin...), 503, "unavailable")
	// Strict bodies and queries; other methods are 405 with Allow.
	for _, body := range []string{``, `{"peer_url":"u","x":1}`, `{"peer_url":"u"} {}`, `[`} {
		wantError(t, do(t, "POST", members, []byte(body), admin...), 400, "invalid_argument")
	}
	wantError(t, do(t, "GET", ts.api+"/v1/cluster?x=1", nil, admin...), 400, "invalid_argument")
	r = do(t, "PUT", ts.api+"/v1/cluster", nil, admin...)
	wantError(t, r, 405, "method_not_allowed")
	if r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}

	// Audited: the admin requests that passed, and the refusals.
	audit := readAudit(t, filepath.Join(dir, "data", "audit.log"))
	if n := strings.Count(audit, `"reason":"POST /v1/admin/cluster/members"`); n != 5 {
		t.Errorf("%d POSTs audited as allowed, want 5 (1 + 4 refused bodies):\n%s", n, audit)
	}
	if n := countAudit(audit, "admin", "denied"); n != 4 {
		t.Errorf("%d admin denials audited, want 4:\n%s", n, audit)
	}
	// Counted like every request.
	if m := string(do(t, "GET", ts.health+"/metrics", nil).body); !strings.Contains(m, `amaters_network_requests_total{method="POST",code="201"} 1`) {
		t.Errorf("the 201 is not counted:\n%s", grepLines(m, "amaters_network_requests_total"))
	}
}

// TestExtensionsRefused: New refuses extra routes, checks and metrics it
// could not serve as promised, naming them.
func TestExtensionsRefused(t *testing.T) {
	h := func(http.ResponseWriter, *http.Request) error { return nil }
	for _, tc := range []struct {
		name string
		opts server.Options
		want string
	}{
		{"built-in route", server.Options{Routes: []server.Route{{Method: "GET", Path: "/v1/status", Handler: h}}}, "/v1/status"},
		{"twice", server.Options{Routes: []server.Route{{Method: "GET", Path: "/v1/cluster", Handler: h}, {Method: "GET", Path: "/v1/cluster", Handler: h}}}, "/v1/cluster"},
		{"outside /v1", server.Options{Routes: []server.Route{{Method: "GET", Path: "/cluster", Handler: h}}}, "under /v1/"},
		{"collections", server.Options{Routes: []server.Route{{Method: "GET", Path: "/v1/collections/{c}/stats", Handler: h}}}, "/v1/collections is the server's own"},
		{"method", server.Options{Routes: []server.Route{{Method: "get", Path: "/v1/x", Handler: h}}}, "method must be"},
		{"no handler", server.Options{Routes: []server.Route{{Method: "GET", Path: "/v1/x"}}}, "no Handler"},
		{"permission", server.Options{Routes: []server.Route{{Method: "GET", Path: "/v1/x", Handler: h, Permission: 7}}}, "unknown permission"},
		{"check name", server.Options{HealthChecks: []server.HealthCheck{{Name: "Cluster", Check: func() error { return nil }}}}, "lowercase"},
		{"check clash", server.Options{HealthChecks: []server.HealthCheck{{Name: "storage", Check: func() error { return nil }}}}, "already reported"},
		{"metric clash", server.Options{RegisterMetrics: func(reg *promtext.Registry) { reg.NewGaugeFunc("amaters_ready", "Again.", func() float64 { return 0 }) }}, "amaters_ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = discardLogger()
			_, err := server.New(loopbackConfig(t), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestHealthCheckAndMetricsHooks: an extra health check turns /readyz,
// /health and amaters_ready, and extra metric families appear on
// /metrics, which stays a valid exposition.
func TestHealthCheckAndMetricsHooks(t *testing.T) {
	var leaderless atomic.Bool
	var term atomic.Uint64
	term.Store(7)
	opts := server.Options{
		Logger: discardLogger(),
		HealthChecks: []server.HealthCheck{{Name: "cluster", Check: func() error {
			if leaderless.Load() {
				return errors.New("no leader known")
			}
			return nil
		}}},
		RegisterMetrics: func(reg *promtext.Registry) {
			reg.NewGaugeFunc("amaters_cluster_term", "The raft term this member knows.", func() float64 { return float64(term.Load()) })
			reg.NewGaugeVecFunc("amaters_cluster_peer_reachable", "1 when the last batch to the peer was delivered.", []string{"peer"},
				func(emit func(float64, ...string)) { emit(1, "2"); emit(0, "3") })
		},
	}
	ts := startServerWith(t, opts, nil)
	get := func(path string) result { return do(t, "GET", ts.health+path, nil) }

	if r := get("/readyz"); r.status != 200 {
		t.Fatalf("/readyz: %d %s", r.status, r.body)
	}
	if r := get("/health"); r.status != 200 || !strings.Contains(string(r.body), `"cluster":"ok"`) {
		t.Fatalf("/health: %d %s", r.status, r.body)
	}
	m := get("/metrics").body
	if err := promtexttest.Check(m); err != nil {
		t.Fatalf("/metrics is not a valid exposition: %v", err)
	}
	for _, want := range []string{"amaters_cluster_term 7\n", `amaters_cluster_peer_reachable{peer="3"} 0`, "amaters_ready 1\n"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	leaderless.Store(true)
	term.Store(8)
	if r := get("/readyz"); r.status != 503 || string(r.body) != "not ready: cluster: no leader known\n" {
		t.Fatalf("/readyz without a leader: %d %q", r.status, r.body)
	}
	if r := get("/health"); r.status != 503 || !strings.Contains(string(r.body), `"cluster":"no leader known"`) || !strings.Contains(string(r.body), `"status":"unavailable"`) {
		t.Fatalf("/health without a leader: %d %s", r.status, r.body)
	}
	m = get("/metrics").body
	if err := promtexttest.Check(m); err != nil {
		t.Fatalf("/metrics is not a valid exposition: %v", err)
	}
	for _, want := range []string{"amaters_cluster_term 8\n", "amaters_ready 0\n"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The API still serves: readiness is for the load balancer.
	if r := do(t, "GET", ts.api+"/v1/status", nil); r.status != 200 {
		t.Fatalf("status: %d", r.status)
	}
}

// TestExtraRoutesRateLimitAndAccessLog: extra routes share the rate
// limit with the rest of the API, and are access-logged with their route.
func TestExtraRoutesRateLimitAndAccessLog(t *testing.T) {
	var logs syncBuffer
	opts := server.Options{
		Logger:          newTextLogger(&logs),
		Routes:          clusterRoutes(),
		ResponseHeaders: func(h http.Header) { h["Amaters-Leader"] = []string{"1"} },
	}
	ts := startServerWith(t, opts, func(c *config.Config) {
		c.Middleware.RateLimitRPS = 1
		c.Middleware.RateLimitBurst = 1
	})
	if r := do(t, "GET", ts.api+"/v1/cluster", nil); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := do(t, "GET", ts.api+"/v1/cluster", nil)
	wantError(t, r, 429, "rate_limited")
	if r.header.Get("Amaters-Leader") != "1" {
		t.Errorf("429 without Amaters-Leader: %v", r.header)
	}
	if !strings.Contains(logs.String(), "route=/v1/cluster") {
		t.Errorf("no access log line for the route:\n%s", logs.String())
	}
}

// TestEditionNameAndVersion: an embedding program names itself in
// /v1/status, /health and amaters_build_info.
func TestEditionNameAndVersion(t *testing.T) {
	ts := startServerWith(t, server.Options{Logger: discardLogger(), Name: "amaters-server-cluster", Version: "0.4.0"}, nil)
	if r := do(t, "GET", ts.api+"/v1/status", nil); !strings.Contains(string(r.body), `"name":"amaters-server-cluster","version":"0.4.0"`) {
		t.Errorf("status: %s", r.body)
	}
	if r := do(t, "GET", ts.health+"/health", nil); !strings.Contains(string(r.body), `"version":"0.4.0"`) {
		t.Errorf("health: %s", r.body)
	}
	if r := do(t, "GET", ts.health+"/metrics", nil); !strings.Contains(string(r.body), `amaters_build_info{version="0.4.0"`) {
		t.Errorf("metrics: %s", grepLines(string(r.body), "build_info"))
	}
}
