package server

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"amaters-server/server/config"
)

// These tests hold the fast path of the key routes (fastpath.go) to
// ServeMux: for any request, the router with the fast path must answer
// exactly as the router without it, and hand the handlers the same path
// values.

func TestSplitKeyPath(t *testing.T) {
	for _, tc := range []struct {
		path, c, key string
		ok           bool
	}{
		{"/v1/collections/c/keys/k", "c", "k", true},
		{"/v1/collections/c/keys/a/b", "c", "a/b", true},
		{"/v1/collections/c/keys/a%2Fb", "c", "a/b", true},
		{"/v1/collections/c/keys/%2F", "c", "/", true},
		{"/v1/collections/c/keys/%2E%2E", "c", "..", true},
		{"/v1/collections/c/keys/100%25", "c", "100%", true},
		{"/v1/collections/c/keys/a+b", "c", "a+b", true},
		{"/v1/collections/c/keys/keys/x", "c", "keys/x", true},
		{"/v1/collections/keys/keys/keys", "keys", "keys", true},
		{"/v1/collections/%63/keys/k", "c", "k", true},
		{"/v1/collections/a%2Fb/keys/k", "a/b", "k", true},
		{"/v1/collections/c%zz/keys/k", "c%zz", "k", true}, // invalid escapes stay as they are, as in ServeMux
		{"/v1/collections/c/keys/%zz", "c", "%zz", true},
		// Declined: ServeMux decides.
		{"/v1/collections/%2F/keys/k", "", "", false}, // "/" is never a single wildcard
		{"/v1/collections/%2f/keys/k", "", "", false},
		{"/v1/collections/c/%6Beys/k", "", "", false},
		{"/v1/%63ollections/c/keys/k", "", "", false},
		{"/v1/collections/c/keys/", "", "", false},
		{"/v1/collections/c/keys", "", "", false},
		{"/v1/collections/c/range", "", "", false},
		{"/v1/collections//keys/k", "", "", false},
		{"/v1/collections/c", "", "", false},
		{"/v1/status", "", "", false},
		{"/", "", "", false},
		{"*", "", "", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c, key, ok := splitKeyPath(tc.path)
			if c != tc.c || key != tc.key || ok != tc.ok {
				t.Fatalf("splitKeyPath(%q) = %q, %q, %v; want %q, %q, %v", tc.path, c, key, ok, tc.c, tc.key, tc.ok)
			}
		})
	}
}

// routerPair is one server behind two routers: with the fast path of the
// key routes and with ServeMux alone, each behind the steps the handlers
// need (exchange, principal). Not safe for concurrent use.
type routerPair struct {
	fast, mux http.Handler
	seen      *seen // what the last request's handlers were told
}

func newRouterPair(tb testing.TB) routerPair {
	tb.Helper()
	s := servingInProcess(tb, func(c *config.Config) {
		c.Middleware.RateLimitRPS = 0
		c.Storage.MaxKeyBytes = 64 // so that the 413 of a long key is in reach
	}, discardLog())
	sn := new(seen)
	chain := func(h http.Handler) http.Handler {
		return s.withRequestID(s.withAuthentication(capturePath(h, sn)))
	}
	return routerPair{fast: chain(s.newAPIRouter(true)), mux: chain(s.newAPIRouter(false)), seen: sn}
}

// seen is what the router told the handlers: r.Pattern and the exchange's
// route, collection and key.
type seen struct{ pattern, route, collection, key string }

// capturePath records in dst what the router told the handlers of each
// request.
func capturePath(next http.Handler, dst *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		ex := exchangeFrom(r)
		*dst = seen{pattern: r.Pattern, route: ex.route, collection: ex.collection, key: ex.key}
	})
}

// answer is what a client, and the handlers, saw of one request.
type answer struct {
	status int
	header http.Header
	body   string
	seen   seen
}

// serveRaw parses a request the way the HTTP server does (so r.URL is what
// a real client could produce) and serves it; false when the request does
// not parse.
func serveRaw(h http.Handler, method, target, body string) (answer, bool) {
	raw := method + " " + target + " HTTP/1.1\r\nHost: example\r\n"
	if body != "" {
		raw += "Content-Length: " + decimal(len(body)) + "\r\n"
	}
	raw += "\r\n" + body
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return answer{}, false
	}
	r.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Header.Del("X-Request-Id") // differs on purpose
	return answer{status: res.StatusCode, header: res.Header, body: rec.Body.String()}, true
}

// compare serves one request through both routers (ServeMux first; writes
// are idempotent, so the fast path finds the same state) and fails on any
// difference.
func (p routerPair) compare(t *testing.T, method, target, body string) {
	t.Helper()
	*p.seen = seen{}
	want, ok := serveRaw(p.mux, method, target, body)
	if !ok {
		return
	}
	want.seen, *p.seen = *p.seen, seen{}
	got, _ := serveRaw(p.fast, method, target, body)
	got.seen = *p.seen
	if got.status != want.status || got.body != want.body {
		t.Fatalf("%s %q: fast path answered %d %q, ServeMux %d %q", method, target, got.status, got.body, want.status, want.body)
	}
	if got.seen != want.seen {
		t.Fatalf("%s %q: the handlers were told %+v by the fast path, %+v by ServeMux", method, target, got.seen, want.seen)
	}
	for k := range mergeKeys(got.header, want.header) {
		if (k == "Etag" || k == "Amaters-Revision") && method != "GET" && method != "HEAD" {
			continue // each write takes its own revision
		}
		if g, w := strings.Join(got.header[k], "|"), strings.Join(want.header[k], "|"); g != w {
			t.Fatalf("%s %q: header %s: fast path %q, ServeMux %q", method, target, k, g, w)
		}
	}
}

func mergeKeys(a, b http.Header) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// trickyTargets are request targets around the key routes: slashes raw
// and escaped, dot segments, escaped literals, trailing and doubled
// slashes, invalid names, long keys, other routes.
var trickyTargets = []string{
	"/v1/collections/c/keys/k",
	"/v1/collections/c/keys/k?x=1",
	"/v1/collections/c/keys/a/b",
	"/v1/collections/c/keys/a%2Fb",
	"/v1/collections/c/keys/a%2fb/c",
	"/v1/collections/c/keys/%2F",
	"/v1/collections/c/keys/%2F%2F",
	"/v1/collections/c/keys/%2E",
	"/v1/collections/c/keys/%2E%2E",
	"/v1/collections/c/keys/.",
	"/v1/collections/c/keys/..",
	"/v1/collections/c/keys/a/./b",
	"/v1/collections/c/keys/a/../b",
	"/v1/collections/c/keys/",
	"/v1/collections/c/keys",
	"/v1/collections/c/keys//k",
	"/v1/collections/c/keys/k/",
	"/v1/collections/c/keys/100%25",
	"/v1/collections/c/keys/a+b%20c",
	"/v1/collections/c/keys/%C3%A9t%C3%A9",
	"/v1/collections/c/keys/%00",
	"/v1/collections/c/keys/keys/keys",
	"/v1/collections/c/keys/" + strings.Repeat("x", 65),
	"/v1/collections/c/keys/" + strings.Repeat("%2F", 64),
	"/v1/collections/%63/keys/k",
	"/v1/collections/%2F/keys/k",
	"/v1/collections/%2f/keys/k",
	"/v1/collections/a%2Fb/keys/k",
	"/v1/collections/-bad/keys/k",
	"/v1/collections/./keys/k",
	"/v1/collections/%2E/keys/k",
	"/v1/collections//keys/k",
	"/v1/collections/c/%6Beys/k",
	"/v1/collections/c/KEYS/k",
	"/v1/%63ollections/c/keys/k",
	"/V1/collections/c/keys/k",
	"/v1/collections/c/range",
	"/v1/collections/c/range?limit=2",
	"/v1/collections/keys/keys/range",
	"/v1/collections/range/keys/range",
	"/v1/collections/c",
	"/v1/collections/",
	"/v1/status",
	"/v1/batch",
	"/v1/nope",
	"/",
	"*",
	"http://other.example/v1/collections/c/keys/k",
	"//v1/collections/c/keys/k",
}

var trickyMethods = []string{"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS", "CONNECT", "get"}

func TestKeyFastPathMatchesServeMux(t *testing.T) {
	p := newRouterPair(t)
	for _, target := range trickyTargets {
		for _, m := range trickyMethods {
			t.Run(m+" "+target, func(t *testing.T) {
				body := ""
				if m == "PUT" || m == "POST" {
					body = "v:" + target
				}
				p.compare(t, m, target, body)
				// Read after write and after delete too.
				p.compare(t, "GET", target, "")
			})
		}
	}
}

// TestKeyFastPathIsTaken checks that the paths meant for the fast path
// take it: the router alone allocates nothing for routing a cached GET
// (ServeMux took seven allocations).
func TestKeyFastPathIsTaken(t *testing.T) {
	s := servingInProcess(t, func(c *config.Config) { c.Middleware.RateLimitRPS = 0 }, discardLog())
	h := s.apiHandler()
	h.ServeHTTP(httptest.NewRecorder(), localRequestBody("PUT", "/v1/collections/c/keys/hot", strings.Repeat("v", 100)))
	req := localRequest("GET", "/v1/collections/c/keys/hot")
	w := &discardWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(100, func() {
		clear(w.h)
		h.ServeHTTP(w, req)
	})
	// The request id, the exchange and r.WithContext's copy.
	if allocs > 3 {
		t.Fatalf("a cached GET through the chain allocates %v objects, want at most 3", allocs)
	}
}

func localRequestBody(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

// FuzzKeyFastPath compares the routers on arbitrary request targets (and
// methods): every target the HTTP server would accept must get the same
// answer and the same path values with the fast path as with ServeMux.
func FuzzKeyFastPath(f *testing.F) {
	for _, target := range trickyTargets {
		f.Add("GET", target)
	}
	f.Add("PUT", "/v1/collections/c/keys/a%2Fb/%2E%2E")
	f.Add("DELETE", "/v1/collections/c/keys/k")
	f.Add("HEAD", "/v1/collections/c/keys/k")
	p := newRouterPair(f)
	f.Fuzz(func(t *testing.T, method, target string) {
		body := ""
		if method == "PUT" || method == "POST" {
			body = "v"
		}
		p.compare(t, method, target, body)
	})
}
