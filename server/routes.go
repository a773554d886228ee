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
	return []route{
		{"PUT", "/v1/collections/{c}/keys/{key...}", s.handlePut, rbac.Write, onCollection},
		{"GET", "/v1/collections/{c}/keys/{key...}", s.handleGet, rbac.Read, onCollection},
		{"DELETE", "/v1/collections/{c}/keys/{key...}", s.handleDelete, rbac.Write, onCollection},
		{"GET", "/v1/collections/{c}/range", s.handleRange, rbac.Read, onCollection},
		{"POST", "/v1/batch", s.handleBatch, 0, onNothing}, // every op is authorized in the handler
		{"GET", "/v1/status", s.handleStatus, 0, onNothing},
		{"POST", "/v1/admin/shutdown", s.handleShutdown, rbac.Admin, onServer},
	}
}

// apiMux builds the API router. For every path it also registers a
// method-less pattern answering 405 with the Allow header, and a catch-all
// answering 404, so that every error is JSON.
func (s *Server) apiMux() http.Handler {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	var paths []string
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.path, s.adapt(rt))
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
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeErrorBody(w, errRouteNotFound) })
	return rejectUncleanPaths(mux)
}

// adapt authorizes a route's requests and answers its handler's errors.
func (s *Server) adapt(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := exchangeFrom(r)
		ex.route, ex.collection = rt.path, r.PathValue("c")
		if err := s.authorizeRoute(r, rt); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := rt.handler(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) authorizeRoute(r *http.Request, rt route) error {
	switch rt.on {
	case onCollection:
		c := r.PathValue("c")
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

// rejectUncleanPaths answers 400 for a path with an empty, "." or ".."
// segment. ServeMux would otherwise redirect it to a cleaned path, which
// for a key would silently mean another key. Keys made of dots, or holding
// slashes, must be percent-encoded (%2E, %2F); the escaped form reaches the
// router intact and ServeMux unescapes it into the {key} value.
func rejectUncleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); p != "/" && hasUncleanSegment(p) {
			writeErrorBody(w, errInvalid(`path has an empty, "." or ".." segment; percent-encode keys containing "/" (%%2F) or consisting of dots (%%2E)`))
			return
		}
		next.ServeHTTP(w, r)
	})
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
