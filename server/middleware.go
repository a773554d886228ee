package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"
)

// The API middleware chain, outermost first (see Server.apiHandler):
//
//	connection busy → request id → recover → access log → metrics
//	→ framing → CORS → compression
//	→ body budget → body limit/decompression → authentication (or protected mode)
//	→ rate limit → draining → router → authorization → handler

type ctxKey int

const exchangeKey ctxKey = iota

// exchange is the state one request shares along the chain: its id, the
// one wrapper of its ResponseWriter (status and size for the access log,
// metrics and recover), and what inner steps learn for outer ones (route,
// collection, principal). It is the one allocation the chain makes per
// request besides the id and r.WithContext's copy of the request: the
// request's context node and the storage of two header values live inside
// it.
type exchange struct {
	statusWriter
	// ctx is the request's context: its parent, plus this exchange as
	// the value of exchangeKey.
	ctx        exchangeContext
	id         string
	start      time.Time
	route      string
	collection string
	key        string // the {key} path value of the key routes
	who        principal
	// idHeader and lengthHeader back the X-Request-Id and Content-Length
	// header values (a header value is a []string, which would otherwise
	// be allocated per response). Each is handed out as a slice of
	// capacity 1, so an Add to the header reallocates instead of writing
	// past it.
	idHeader     [1]string
	lengthHeader [1]string
	// body is the request's share of the body budget, bbody the body
	// reader that charges it (budget.go).
	body  bodyAccount
	bbody budgetBody
}

// exchangeContext is a request context carrying its exchange: what
// context.WithValue(parent, exchangeKey, ex) would be, without allocating
// a node of its own. It is recognized by package context as a wrapper of
// its parent (Value reaches the parent's cancellation), so deriving from
// it starts no goroutine.
type exchangeContext struct {
	context.Context
	ex *exchange
}

func (c *exchangeContext) Value(key any) any {
	if key == exchangeKey {
		return c.ex
	}
	return c.Context.Value(key)
}

// newExchange starts the exchange of a request answered through w, whose
// context is derived from parent.
func newExchange(parent context.Context, w http.ResponseWriter, id string, start time.Time) *exchange {
	ex := &exchange{statusWriter: statusWriter{ResponseWriter: w}, id: id, start: start}
	ex.ctx = exchangeContext{Context: parent, ex: ex}
	return ex
}

// requestContext returns the request's context, which holds ex.
func (ex *exchange) requestContext() context.Context { return &ex.ctx }

// lengthValue returns the Content-Length header value of n bytes.
func (ex *exchange) lengthValue(n int) []string {
	ex.lengthHeader[0] = decimal(n)
	return ex.lengthHeader[:1:1]
}

func exchangeOf(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey).(*exchange)
	return ex
}

// exchangeFrom returns the request's exchange; outside the chain (tests of
// one step) a throwaway one.
func exchangeFrom(r *http.Request) *exchange {
	if ex := exchangeOf(r.Context()); ex != nil {
		return ex
	}
	return &exchange{}
}

// requestID returns the request's id, set by withRequestID.
func requestID(ctx context.Context) string {
	if ex := exchangeOf(ctx); ex != nil {
		return ex.id
	}
	return ""
}

// requestIDs makes request ids: a random per-process prefix and a counter,
// so ids are unique without a syscall per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

func (g *requestIDs) next() string {
	// One allocation: the prefix is 12 characters and a base-36 uint64
	// at most 13, so the id is built on the stack.
	var buf [32]byte
	b := append(buf[:0], g.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, g.n.Add(1), 36)
	return string(b)
}

// validRequestID accepts a client's X-Request-Id when it is 1..128 visible
// ASCII characters, so it can be echoed and logged safely.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// withRequestID echoes the client's X-Request-Id (when valid) or makes one,
// on every response. It starts the request's exchange, so it is the
// outermost step.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = s.ids.next()
		}
		ex := newExchange(r.Context(), w, id, s.now())
		ex.idHeader[0] = id
		w.Header()["X-Request-Id"] = ex.idHeader[:1:1]
		next.ServeHTTP(&ex.statusWriter, r.WithContext(ex.requestContext()))
	})
}

// statusWriter records the status and size of a response, and its error
// code (see noteErrorCode).
type statusWriter struct {
	http.ResponseWriter
	status  int
	bytes   int64
	errCode string // the JSON error code of an error answer, or ""
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	n, err := sw.ResponseWriter.Write(p)
	sw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// code is the status sent, 200 when the handler wrote nothing.
func (sw *statusWriter) code() int {
	if sw.status == 0 {
		return http.StatusOK
	}
	return sw.status
}

// withRecover turns a panic in a handler into one log line with the stack
// and a 500 JSON answer without internals, and keeps the server up.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &exchangeFrom(r).statusWriter
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.metrics.panics.Inc()
			s.log.ErrorContext(r.Context(), "panic serving request",
				slog.String("request_id", requestID(r.Context())),
				slog.String("method", r.Method),
				slog.String("route", r.Pattern),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if sw.status == 0 {
				writeErrorBody(w, &apiError{status: http.StatusInternalServerError, code: "internal", message: "internal error; see the server log for request id " + requestID(r.Context())})
			} else {
				// Headers are gone; cut the connection so the client
				// does not take a partial body for a whole one.
				panic(http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withMetrics counts every answered request by method and status code, and
// observes its duration by route.
func (s *Server) withMetrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := exchangeFrom(r)
		sw := &ex.statusWriter
		defer func() {
			code := sw.code()
			s.metrics.requests.With(methodLabel(r.Method), statusLabel(code)).Inc()
			s.metrics.requestDuration.With(s.metrics.requestRoute(r.Method, ex.route)).Observe(s.now().Sub(ex.start).Seconds())
			if code == http.StatusRequestEntityTooLarge {
				s.metrics.networkErrors.With("too_large").Inc()
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// smallDecimals holds the decimal text of 0..1023, so that a status label
// or the Content-Length of a small value is not formatted (and allocated)
// per request. Read-only.
var smallDecimals = func() (t [1024]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// decimal is strconv.Itoa(n), without allocating for small n.
func decimal(n int) string {
	if n >= 0 && n < len(smallDecimals) {
		return smallDecimals[n]
	}
	return strconv.Itoa(n)
}

func statusLabel(code int) string { return decimal(code) }

// methodLabel keeps the method label's cardinality bounded.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH":
		return m
	}
	return "other"
}

// protectedModeMessage is the answer to a non-loopback client of a server
// without authentication.
const protectedModeMessage = "protected mode: this server has no authentication configured, so it only serves clients on the loopback interface. " +
	"Configure auth.jwt_secret, auth.jwt_public_key, auth.api_keys_file or auth.mtls_ca_cert, " +
	"or set auth.allow_anonymous = true to serve every client without authentication"

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withDraining answers 503 to requests that arrive once shutdown began
// (on a connection that was already open), except GET /v1/status, which
// then reports "draining".
func (s *Server) withDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.state.Load() != stateServing && r.URL.Path != "/v1/status" {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			writeErrorBody(w, errUnavailable("the server is "+stateName(s.state.Load())))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiHandler is the API middleware chain; the outermost step is last.
func (s *Server) apiHandler() http.Handler {
	var h http.Handler = s.apiMux() // routing, then authorization per route
	h = s.withDraining(h)
	h = s.withRateLimit(h)
	h = s.withAuthentication(h)
	h = s.withBodyLimit(h)
	h = s.withBodyBudget(h)
	h = s.withCompression(h)
	h = s.withCORS(h)
	h = s.withFraming(h)
	h = s.withMetrics(h)
	if s.cfg.Observability.AccessLog {
		h = s.withAccessLog(h)
	}
	h = s.withRecover(h)
	h = s.withRequestID(h)
	h = s.withResponseHeaders(h) // Options.ResponseHeaders (extension.go)
	h = s.withConnBusy(h)
	return h
}
