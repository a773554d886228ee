package server

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"amaters-server/lru"
)

// maxLimiters bounds the table of per-client token buckets. Past it, the
// least recently seen client (as package lru orders them) is forgotten,
// and starts again with a full bucket if it returns, so a flood of
// distinct addresses costs a fixed amount of memory.
const maxLimiters = 10000

// limiters holds one token bucket per client. It is safe for concurrent
// use; a nil *limiters allows everything (rate limiting off).
type limiters struct {
	rps   rate.Limit
	burst int

	mu      sync.Mutex                         // guards buckets
	buckets lru.Cache[clientID, *rate.Limiter] // at most maxLimiters, least recently seen out first

	rejected atomic.Uint64
}

// clientID is a rate-limit key: an authenticated identity (its method and
// subject), or a remote IP address (method ""). A struct rather than a
// joined string, so that building it does not allocate.
type clientID struct {
	method  string
	subject string
}

func newLimiters(rps, burst int64, max int) *limiters {
	if rps <= 0 {
		return nil
	}
	l := &limiters{rps: rate.Limit(rps), burst: int(burst)}
	l.buckets.MaxEntries = max
	return l
}

// allow takes a token from key's bucket at time now. When the bucket is
// empty it returns false and how long until a token is available.
func (l *limiters) allow(key clientID, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	lim, ok := l.buckets.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.rps, l.burst)
		l.buckets.Add(key, lim, 0)
	}
	l.mu.Unlock()

	if lim.AllowN(now, 1) {
		return true, 0 // the common case, without a Reservation
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		l.rejected.Add(1)
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		l.rejected.Add(1)
		return false, d
	}
	return true, 0
}

// sameRate reports whether l and m limit at the same rate and burst (both
// nil: both off).
func (l *limiters) sameRate(m *limiters) bool {
	if l == nil || m == nil {
		return l == m
	}
	return l.rps == m.rps && l.burst == m.burst
}

// clients returns how many clients the table tracks.
func (l *limiters) clients() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buckets.Len()
}

// clientKey is the rate-limit key of a request: its authenticated identity,
// else its remote address as clientAddr counts it (an IPv6 address by its
// /64, so that one host cannot spread guesses over its 2^64 addresses).
func clientKey(r *http.Request, p principal) clientID {
	if p.id.Method != "" {
		return clientID{method: string(p.id.Method), subject: p.id.Subject}
	}
	return clientID{subject: clientAddr(r.RemoteAddr)}
}

// withRateLimit refuses, with 429 and Retry-After, a request whose client
// has no token left. It runs right after authentication, so that a client
// is its identity when it has one (see README, "Middleware").
func (s *Server) withRateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l := s.live.Load().limiters; l != nil { // nil: rate limiting is off
			if ok, wait := l.allow(clientKey(r, principalFrom(r)), s.now()); !ok {
				s.tooManyRequests(w, wait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) tooManyRequests(w http.ResponseWriter, wait time.Duration) {
	s.metrics.rateLimited.Inc()
	secs := max(1, int(math.Ceil(wait.Seconds())))
	writeErrorBody(w, &apiError{
		status: http.StatusTooManyRequests, code: "rate_limited",
		message: "too many requests; retry after " + strconv.Itoa(secs) + " s",
		header:  map[string]string{"Retry-After": strconv.Itoa(secs)},
	})
}
