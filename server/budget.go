package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Request bodies are held under one server-wide budget
// (network.max_inflight_body_mb), so that many slow or large uploads
// together cannot take the process's memory.
//
// Every request's exchange has an account of the budget bytes it holds.
// Two things charge it, both as bytes arrive, never ahead of them: the
// body reader of withBodyBudget charges every byte read from the
// connection, and readBounded charges the capacity of the buffer it grows
// (which is at least what it has read). The account holds the larger of
// the two, and gives it all back when the request ends. A charge the
// budget cannot cover waits up to bodyBudgetWait for other requests to
// finish, then fails with 503 (amaters_inflight_body_rejected_total); it
// never allocates past the budget. A declared Content-Length reserves
// nothing: a client that declares 16 MiB and sends 4 bytes holds 4 bytes
// (plus the first buffer, at most readChunk).

// bodyBudgetWait is how long a request waits for body budget before 503.
const bodyBudgetWait = time.Second

// readChunk is the first buffer of a body of known length, and how much
// a body buffer grows at least.
const readChunk = 32 << 10

// bodyBudget is the server-wide budget of body bytes. Safe for concurrent
// use.
type bodyBudget struct {
	limit int64
	wait  time.Duration

	mu      sync.Mutex
	used    int64
	changed chan struct{} // closed (and replaced) when bytes are given back

	rejected atomic.Uint64
}

func newBodyBudget(limit int64, wait time.Duration) *bodyBudget {
	return &bodyBudget{limit: limit, wait: wait, changed: make(chan struct{})}
}

// errBodyBudget is the answer when the budget stays exhausted.
func errBodyBudget() *apiError {
	return &apiError{
		status: http.StatusServiceUnavailable, code: "unavailable",
		message: "the server holds too many request bodies at once (network.max_inflight_body_mb); retry shortly",
		header:  map[string]string{"Retry-After": "1", "Connection": "close"},
	}
}

// acquire takes n bytes, waiting up to b.wait (or until ctx ends) for
// them.
func (b *bodyBudget) acquire(ctx context.Context, n int64) error {
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return nil
		}
		changed := b.changed
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(b.wait)
		}
		select {
		case <-changed:
		case <-timer.C:
			b.rejected.Add(1)
			return errBodyBudget()
		case <-ctx.Done():
			timer.Stop()
			b.rejected.Add(1)
			return errBodyBudget()
		}
	}
}

// release gives n bytes back.
func (b *bodyBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// inUse returns the bytes held now.
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// bodyAccount is a request's share of the budget; it lives in the
// exchange. Used by one request's goroutine at a time.
type bodyAccount struct {
	budget *bodyBudget // nil: no budget (outside the chain)
	ctx    context.Context
	held   int64
	// read counts the body bytes that arrived (the access log's bytes_in).
	read int64
	// netErr counts a network error by kind; nil outside the chain.
	netErr func(kind string)
}

// reserve makes the account hold at least total bytes.
func (a *bodyAccount) reserve(total int64) error {
	if a == nil || a.budget == nil || total <= a.held {
		return nil
	}
	if err := a.budget.acquire(a.ctx, total-a.held); err != nil {
		return err
	}
	a.held = total
	return nil
}

// close gives everything back.
func (a *bodyAccount) close() {
	if a.budget != nil {
		a.budget.release(a.held)
		a.held = 0
	}
}

// budgetBody is a request body that charges its account as bytes arrive.
type budgetBody struct {
	rc  io.ReadCloser
	acc *bodyAccount
	err error // the budget's refusal, once
}

func (b *budgetBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	b.acc.read += int64(n)
	if err != nil && err != io.EOF {
		if cerr := clientGone(err, b.acc.netErr); cerr != nil {
			b.err = cerr
			return n, cerr
		}
	}
	if rerr := b.acc.reserve(b.acc.read); rerr != nil {
		b.err = rerr
		return 0, rerr
	}
	return n, err
}

func (b *budgetBody) Close() error { return b.rc.Close() }

// withBodyBudget puts the request's body under the server's body budget
// and gives the request's share back when it ends.
func (s *Server) withBodyBudget(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := exchangeFrom(r)
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		ex.body = bodyAccount{budget: s.bodies, ctx: r.Context(), netErr: s.countNetErr}
		ex.bbody = budgetBody{rc: r.Body, acc: &ex.body}
		r.Body = &ex.bbody
		defer ex.body.close()
		next.ServeHTTP(w, r)
	})
}

// readBounded reads a whole request body of at most limit bytes into a
// buffer that grows as bytes arrive, under the request's body budget. A
// body longer than limit is errTooLarge with what (the limit's name); a
// budget that stays exhausted is a 503.
func readBounded(r *http.Request, limit int64, what string) ([]byte, error) {
	acc := &exchangeFrom(r).body
	want := r.ContentLength // -1: unknown, read to EOF
	if want > limit {
		return nil, errTooLarge("value is %d bytes; the limit (%s) is %d", want, what, limit)
	}
	if want == 0 {
		return []byte{}, nil
	}
	ceiling := limit + 1 // one more byte proves a body of unknown length too long
	if want > 0 {
		ceiling = want
	}
	buf := []byte(nil)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= ceiling {
				if want < 0 {
					return nil, errTooLarge("value is larger than the limit (%s) of %d bytes", what, limit)
				}
				return buf, nil
			}
			next := min(max(2*int64(cap(buf)), readChunk), ceiling)
			if err := acc.reserve(next); err != nil {
				return nil, err
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if want > 0 && int64(len(buf)) < want {
				return nil, errInvalid("reading the request body: %v", io.ErrUnexpectedEOF)
			}
			return buf, nil
		}
		if err != nil {
			var ae *apiError
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &ae):
				return nil, ae
			case errors.As(err, &mbe):
				return nil, errTooLarge("value is larger than the limit (%s) of %d bytes", what, limit)
			}
			return nil, errInvalid("reading the request body: %v", err)
		}
	}
}

// errClientGone answers a request whose client went away while sending its
// body (a reset, a close before the declared length, a read timeout):
// nobody reads the answer, and the access log shows 499 (as nginx does)
// rather than blaming the request with a 400.
func errClientGone(why string) *apiError {
	return &apiError{status: 499, code: "client_closed", message: "the client " + why + " before sending the whole body"}
}

// clientGone returns errClientGone, and counts the network error, when err
// from a request body means the client went away; else nil.
func clientGone(err error, count func(string)) *apiError {
	if count == nil {
		count = func(string) {}
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		count("reset")
		return errClientGone("closed the connection")
	case errors.As(err, &ne) && ne.Timeout():
		count("timeout")
		return errClientGone("was too slow")
	}
	return nil
}

func (s *Server) countNetErr(kind string) { s.metrics.networkErrors.With(kind).Inc() }
