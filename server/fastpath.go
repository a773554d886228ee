package server

import (
	"net/http"
	"net/url"
	"strings"
)

// apiRouter is the last step of the chain before the handlers. It refuses
// unclean paths (errUncleanPath), routes GET, HEAD, PUT and DELETE
// of the key routes itself, and hands every other request to the ServeMux
// of apiMux.
//
// Why not ServeMux alone: matching the trailing wildcard of
// "/v1/collections/{c}/keys/{key...}" costs ServeMux seven allocations per
// request (match slices, twice, since a multi-wildcard match is retried
// with a trailing slash for a redirect that can never apply here), half of
// what a cached GET allocated. The fast path gives exactly ServeMux's
// answer or declines: it claims a request only when its escaped path is
// literally "/v1/collections/" SEG "/keys/" REST, which is the one shape
// where no other pattern of the table can apply, and it derives the path
// values as ServeMux does (each segment unescaped alone, the key being the
// unescaped rest, raw slashes and %2F alike). Anything else, including
// spellings ServeMux also accepts (say "%6Beys" for "keys") and the 405 of
// other methods, goes to ServeMux. TestKeyFastPathMatchesServeMux and
// FuzzKeyFastPath compare the two.
//
// An apiRouter is immutable after apiMux and safe for concurrent use.
type apiRouter struct {
	mux http.Handler
	// get, put and del serve the key routes; nil leaves the method to
	// ServeMux (all nil: the fast path is off; tests compare both ways).
	get, put, del *routeHandler
}

func (a *apiRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if p != "/" && hasUncleanSegment(p) {
		writeErrorBody(w, errUncleanPath())
		return
	}
	if c, key, ok := splitKeyPath(p); ok {
		var h *routeHandler
		switch r.Method {
		case http.MethodGet, http.MethodHead: // GET answers HEAD, as in ServeMux
			h = a.get
		case http.MethodPut:
			h = a.put
		case http.MethodDelete:
			h = a.del
		}
		if h != nil {
			r.Pattern = h.pattern // what ServeMux would have set
			h.serve(w, r, c, key)
			return
		}
	}
	if r.RequestURI == "*" {
		// ServeMux would answer 400 with no body; OPTIONS * never gets
		// here (net/http answers it).
		writeErrorBody(w, errRouteNotFound)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// keysPathPrefix starts the path of every key route.
const keysPathPrefix = "/v1/collections/"

// splitKeyPath returns the {c} and {key} values ServeMux would give the
// escaped, clean (see hasUncleanSegment) path p for the key routes, or
// false when p is not literally "/v1/collections/" SEG "/keys/" REST.
func splitKeyPath(p string) (c, key string, ok bool) {
	rest, ok := strings.CutPrefix(p, keysPathPrefix)
	if !ok {
		return "", "", false
	}
	seg, rest, ok := strings.Cut(rest, "/")
	if !ok || seg == "" {
		return "", "", false
	}
	rest, ok = strings.CutPrefix(rest, "keys/")
	if !ok || rest == "" {
		return "", "", false
	}
	c = pathUnescape(seg)
	if c == "/" {
		// ServeMux takes a segment that unescapes to "/" for a
		// trailing slash, which no single wildcard matches ("%2F" as a
		// collection is 404 there, not 400).
		return "", "", false
	}
	return c, pathUnescape(rest), true
}

// pathUnescape is ServeMux's unescaping of a path value: percent-decoded,
// or left as it is when it is not valid percent-encoding. It allocates only
// when there is something to decode.
func pathUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}
