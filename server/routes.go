package server

import (
	"net/http"
	"strings"

	"amaters-server/rbac"
)

// handlerFunc is an API handler: it writes a success itself and returns any
// failure, which writeError answers.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one entry of the API table, with what it needs to be
// authorized (API.md §4): an action on the collection of its {c}, on the
// server, or nothing beyond authentication.
type route struct {
	method, path string
	handler      handlerFunc
	action       rbac.Action // 0: any authenticated identity
	on           scope
	query        bool // takes query parameters (checked by the handler); others refuse any
}

type scope int

const (
	onNothing    scope = iota // authentication only (the handler may check more)
	onCollection              // the {c} path value
	onServer
)

// routes is the whole API of API.md §3 in one table. GET patterns answer
// HEAD too (net/http ServeMux). The key is a trailing wildcard: a single
// wildcard cannot hold the key "/" (ServeMux takes an unescaped "/" segment
// for a trailing slash), and it lets clients send slashes in keys either
// raw or as %2F.
func (s *Server) routes() []route {
	return append([]route{
		{"PUT", "/v1/collections/{c}/keys/{key...}", s.handlePut, rbac.Write, onCollection, true}, // ?ttl=
		{"GET", "/v1/collections/{c}/keys/{key...}", s.handleGet, rbac.Read, onCollection, true},  // ?consistency=
		{"DELETE", "/v1/collections/{c}/keys/{key...}", s.handleDelete, rbac.Write, onCollection, false},
		{"GET", "/v1/collections/{c}/range", s.handleRange, rbac.Read, onCollection, true},
		{"GET", "/v1/collections/{c}/watch", s.handleWatch, rbac.Read, onCollection, true}, // API.md §8 (watch.go)
		{"POST", "/v1/batch", s.handleBatch, 0, onNothing, false},                          // every op is authorized in the handler
		{"GET", "/v1/collections", s.handleCollections, 0, onNothing, true},                // filtered by read access in the handler
		{"GET", "/v1/status", s.handleStatus, 0, onNothing, false},
		{"POST", "/v1/admin/shutdown", s.handleShutdown, rbac.Admin, onServer, false},
		{"GET", "/v1/admin/backup", s.handleBackup, rbac.Admin, onServer, false},
	}, s.extraRoutes()...) // Options.Routes (extension.go)
}

// keyRoutePath is the pattern path of the three key routes, which the
// fast path of apiRouter serves without ServeMux.
const keyRoutePath = "/v1/collections/{c}/keys/{key...}"

// apiMux builds the API router: the fast path for the key routes in front
// of a ServeMux of the whole table.
func (s *Server) apiMux() http.Handler { return s.newAPIRouter(true) }

// newAPIRouter builds the router, with or without the fast path of the key
// routes. Its ServeMux registers, for every path, a method-less pattern
// answering 405 with the Allow header, and a catch-all answering 404, so
// that every error is JSON.
func (s *Server) newAPIRouter(fast bool) *apiRouter {
	mux := http.NewServeMux()
	a := &apiRouter{mux: mux}
	allow := map[string][]string{}
	var paths []string
	for _, rt := range s.routes() {
		h := &routeHandler{s: s, rt: rt, pattern: rt.method + " " + rt.path}
		mux.Handle(h.pattern, h)
		if fast && rt.path == keyRoutePath {
			switch rt.method {
			case http.MethodGet:
				a.get = h
			case http.MethodPut:
				a.put = h
			case http.MethodDelete:
				a.del = h
			}
		}
		if _, ok := allow[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allow[rt.path] = append(allow[rt.path], rt.method)
		if rt.method == "GET" {
			allow[rt.path] = append(allow[rt.path], "HEAD")
		}
	}
	for _, p := range paths {
		e := errMethod(strings.Join(allow[p], ", "))
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { writeErrorBody(w, e) })
	}
	// Without this, ServeMux would redirect .../keys to .../keys/ (the
	// key route's subtree) with an HTML body; there is no such endpoint.
	mux.HandleFunc(strings.TrimSuffix(keyRoutePath, "/{key...}"), func(w http.ResponseWriter, r *http.Request) { writeErrorBody(w, errRouteNotFound) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeErrorBody(w, errRouteNotFound) })
	return a
}

// routeHandler authorizes a route's requests and answers its handler's
// errors. ServeMux calls ServeHTTP; the fast path of apiRouter calls serve
// with the path values it parsed.
type routeHandler struct {
	s       *Server
	rt      route
	pattern string // "METHOD PATH", as ServeMux sets r.Pattern
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, r.PathValue("c"), r.PathValue("key"))
}

// serve runs the route with the path values c and key ("" when the route
// has none). Handlers read them from the exchange (pathKey).
func (h *routeHandler) serve(w http.ResponseWriter, r *http.Request, c, key string) {
	ex := exchangeOf(r.Context())
	if ex == nil {
		// Outside the chain (a test of the router alone): the handler
		// still needs an exchange to read the path values from.
		ex = newExchange(r.Context(), w, "", h.s.now())
		r = r.WithContext(ex.requestContext())
	}
	ex.route, ex.collection, ex.key = h.rt.path, c, key
	if !h.rt.query && r.URL.RawQuery != "" {
		// Strict, like the rest: a parameter this endpoint would ignore
		// is more likely a mistake than a wish.
		name, _, _ := strings.Cut(r.URL.RawQuery, "&")
		name, _, _ = strings.Cut(name, "=")
		h.s.writeError(w, r, errInvalid("unknown query parameter %q (this endpoint takes none)", truncate(name, 64)))
		return
	}
	if err := h.s.authorizeRoute(r, h.rt, c); err != nil {
		h.s.writeError(w, r, err)
		return
	}
	if err := h.rt.handler(w, r); err != nil {
		h.s.writeError(w, r, err)
	}
}

// authorizeRoute checks the route's permission; c is its {c} path value.
func (s *Server) authorizeRoute(r *http.Request, rt route, c string) error {
	switch rt.on {
	case onCollection:
		// A malformed name is the client's mistake whoever asks; check it
		// first so a 403 never hides a 400.
		if err := checkCollection(c); err != nil {
			return err
		}
		return s.authorize(r, rt.action, rbac.Collection(c))
	case onServer:
		return s.authorize(r, rt.action, rbac.Server())
	}
	return nil
}

// errUncleanPath is the answer to a path with an empty, "." or ".."
// segment. ServeMux would otherwise redirect it to a cleaned path, which
// for a key would silently mean another key. Keys made of dots, or holding
// slashes, must be percent-encoded (%2E, %2F); the escaped form reaches the
// router intact and is unescaped into the {key} value.
func errUncleanPath() *apiError {
	return errInvalid(`path has an empty, "." or ".." segment; percent-encode keys containing "/" (%%2F) or consisting of dots (%%2E)`)
}

// hasUncleanSegment reports whether the path (after its leading "/") has an
// empty, "." or ".." segment.
func hasUncleanSegment(p string) bool {
	p = strings.TrimPrefix(p, "/")
	for {
		seg, rest, more := strings.Cut(p, "/")
		if seg == "" || seg == "." || seg == ".." {
			return true
		}
		if !more {
			return false
		}
		p = rest
	}
}
