package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"amaters-server/rbac"
)

// This file is the seam for a program that embeds the server and adds to
// it (the cluster edition, API.md §9): extra routes served through the
// whole middleware chain, headers on every API answer, extra metric
// families, and extra health checks. Each is an [Options] field; the
// package doc ("Extending the server") states the contract.

// Permission is what an extra [Route] asks of its caller beyond
// authentication (API.md §4).
type Permission int

const (
	// PermissionNone: any authenticated identity (in protected mode, any
	// loopback client), as GET /v1/status.
	PermissionNone Permission = iota
	// PermissionRead: read on the server resource ("server" or "*" in
	// the roles file; the built-in admin role). The built-in user and
	// reader roles act on collections only, so they are refused.
	PermissionRead
	// PermissionAdmin: admin on the server, as /v1/admin/shutdown. Each
	// request that passes is audited ("admin", "server", "allowed", with
	// the route as the reason), as a refused one is.
	PermissionAdmin
)

func (p Permission) String() string {
	switch p {
	case PermissionNone:
		return "none"
	case PermissionRead:
		return "read"
	case PermissionAdmin:
		return "admin"
	}
	return fmt.Sprintf("Permission(%d)", int(p))
}

// Route is an extra API route, given in [Options.Routes]. It is served
// like the server's own: request id, recover, access log, metrics
// (amaters_network_requests_total), CORS, compression, the body limit,
// authentication or protected mode, the rate limit and draining, then
// authorization by Permission, then Handler. A route path with other
// methods answers 405 with Allow, as the built-in ones do.
type Route struct {
	// Method is GET, POST, PUT or DELETE (the methods CORS allows); GET
	// answers HEAD too.
	Method string
	// Path is a net/http ServeMux path under /v1/ (wildcards allowed,
	// read with r.PathValue), outside /v1/collections, and not a path
	// the server serves with this method: "/v1/cluster",
	// "/v1/admin/cluster/members/{id}".
	Path string
	// Permission is checked before Handler runs.
	Permission Permission
	// Query: the route takes query parameters, which Handler checks.
	// Without it, any query string is refused with 400, as the server's
	// own routes refuse parameters they would ignore.
	Query bool
	// Handler answers a success itself (see [WriteJSON]) and returns any
	// failure, which the server answers as JSON like its own: an error
	// from [HTTPError] with its status and code, [ErrUnavailable] and
	// [ErrUnknownOutcome] as 503, any other error as a 500 that is
	// logged with the request id (its text never reaches the client).
	// The request body is bounded by middleware.max_body_bytes
	// ([ReadJSON] reads a JSON body strictly).
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// HealthCheck is an extra check of /health and /readyz, given in
// [Options.HealthChecks]: the cluster edition's "a leader is known".
type HealthCheck struct {
	// Name is the check's key in /health's "checks": lowercase letters,
	// digits and '_', not one of the server's own (storage, wal, log,
	// audit).
	Name string
	// Check returns nil when the server may receive traffic, or the
	// reason it should not ("no leader known"). While the server serves,
	// it is called at every /readyz, /health and /metrics request, from
	// many goroutines at once, so it must be cheap. An error makes
	// /readyz answer 503 with "NAME: reason", /health answer 503 with the
	// reason under checks[NAME], and amaters_ready read 0.
	Check func() error
}

// HTTPError returns an error that a [Route]'s handler returns to answer
// status with the JSON error {"error":{"code","message"}} of API.md §3.
// The message is shown to the client as it is.
func HTTPError(status int, code, message string) error {
	return &apiError{status: status, code: code, message: message}
}

// WriteJSON answers status with v encoded as JSON, as the server's own
// answers are (Content-Type, Content-Length, nosniff). v must encode.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// ReadJSON decodes the request's body, a single JSON value, into v,
// refusing unknown fields and trailing data; every failure is an error
// answering 400 invalid_argument (413 past middleware.max_body_bytes).
func ReadJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			return errInvalid("the request body is empty; it must be a JSON object")
		}
		return errInvalid("the request body is not valid JSON for this endpoint: %s", truncate(err.Error(), 200))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errInvalid("the request body has data after its JSON value")
	}
	return nil
}

// extraRoutes turns Options.Routes into routes of the table.
func (s *Server) extraRoutes() []route {
	out := make([]route, 0, len(s.opts.Routes))
	for _, x := range s.opts.Routes {
		rt := route{method: x.Method, path: x.Path, handler: x.Handler, query: x.Query}
		switch x.Permission {
		case PermissionRead:
			rt.action, rt.on = rbac.Read, onServer
		case PermissionAdmin:
			rt.action, rt.on = rbac.Admin, onServer
			h, what := x.Handler, x.Method+" "+x.Path
			rt.handler = func(w http.ResponseWriter, r *http.Request) error {
				s.audit.record(r, principalFrom(r), "admin", "server", "allowed", what)
				return h(w, r)
			}
		}
		out = append(out, rt)
	}
	return out
}

// checkExtensions checks what Options adds, for New.
func (s *Server) checkExtensions() error {
	var errs []error
	for i, x := range s.opts.Routes {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("server: Options.Routes[%d] (%s %s): %s", i, x.Method, x.Path, fmt.Sprintf(format, args...)))
		}
		switch x.Method {
		case "GET", "POST", "PUT", "DELETE":
		default:
			bad("method must be GET, POST, PUT or DELETE")
		}
		switch {
		case !strings.HasPrefix(x.Path, "/v1/") || x.Path == "/v1/":
			bad("path must be under /v1/")
		case x.Path == "/v1/collections" || strings.HasPrefix(x.Path, "/v1/collections/"):
			bad("/v1/collections is the server's own")
		case hasUncleanSegment(x.Path):
			bad(`path has an empty, "." or ".." segment`)
		}
		if x.Handler == nil {
			bad("no Handler")
		}
		if x.Permission < PermissionNone || x.Permission > PermissionAdmin {
			bad("unknown permission %d", int(x.Permission))
		}
	}
	if len(errs) == 0 {
		// ServeMux refuses a pattern that conflicts with another (the
		// same method and path, or two that match the same requests with
		// neither more specific) by panicking: find out now, not in Run.
		func() {
			defer func() {
				if v := recover(); v != nil {
					errs = append(errs, fmt.Errorf("server: Options.Routes: %v", v))
				}
			}()
			s.newAPIRouter(false)
		}()
	}
	seen := map[string]bool{"storage": true, "wal": true, "log": true, "audit": true}
	for i, c := range s.opts.HealthChecks {
		switch {
		case !validCheckName(c.Name):
			errs = append(errs, fmt.Errorf("server: Options.HealthChecks[%d]: name %q must be lowercase letters, digits and '_'", i, c.Name))
		case seen[c.Name]:
			errs = append(errs, fmt.Errorf("server: Options.HealthChecks[%d]: the check %q is already reported", i, c.Name))
		case c.Check == nil:
			errs = append(errs, fmt.Errorf("server: Options.HealthChecks[%d] (%s): no Check", i, c.Name))
		}
		seen[c.Name] = true
	}
	return errors.Join(errs...)
}

func validCheckName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// registerExtraMetrics calls Options.RegisterMetrics on the server's
// registry; a family that clashes with another (promtext panics) is an
// error of New.
func (s *Server) registerExtraMetrics() (err error) {
	if s.opts.RegisterMetrics == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("server: Options.RegisterMetrics: %v", v)
		}
	}()
	s.opts.RegisterMetrics(s.reg)
	return nil
}

// notReady runs the extra health checks while the server serves and
// returns the first failure as "NAME: reason", or "".
func (s *Server) notReady() string {
	for _, c := range s.opts.HealthChecks {
		if err := c.Check(); err != nil {
			return c.Name + ": " + err.Error()
		}
	}
	return ""
}

// withResponseHeaders adds Options.ResponseHeaders' headers to every API
// answer; it is the outermost step of the chain, so even an answer of
// the chain's own steps (401, 429, 503 while draining) carries them.
func (s *Server) withResponseHeaders(next http.Handler) http.Handler {
	add := s.opts.ResponseHeaders
	if add == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		add(w.Header())
		next.ServeHTTP(w, r)
	})
}
