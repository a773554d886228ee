package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// The exchange holds the request's context node and two header values to
// save allocations (middleware.go); these tests hold it to what
// context.WithValue and fresh slices would do.

type otherKey struct{}

func TestExchangeContextIsAWrapper(t *testing.T) {
	deadline := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) // far off: only cancelParent ends ctx
	parent, cancelDeadline := context.WithDeadline(context.WithValue(context.Background(), otherKey{}, "kept"), deadline)
	defer cancelDeadline()
	parent, cancelParent := context.WithCancel(parent)
	ex := newExchange(parent, httptest.NewRecorder(), "id-1", time.Time{})
	ctx := ex.requestContext()

	if got := exchangeOf(ctx); got != ex {
		t.Fatalf("exchangeOf = %p, want %p", got, ex)
	}
	if got := requestID(ctx); got != "id-1" {
		t.Fatalf("requestID = %q", got)
	}
	if got := ctx.Value(otherKey{}); got != "kept" {
		t.Fatalf("a parent's value reads %v through the exchange context", got)
	}
	if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
		t.Fatalf("Deadline = %v, %v", d, ok)
	}
	// Package context must see through the wrapper to the parent's
	// cancelCtx: then a child is registered with it and cancelled at once,
	// in the parent's cancel call. Were the wrapper opaque, context would
	// start a goroutine to forward the cancellation, and the child would
	// still be live right after cancelParent returns.
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	cancelParent()
	select {
	case <-child.Done():
	default:
		t.Fatal("the child was not cancelled with its parent: context does not see through exchangeContext")
	}
	if ctx.Err() != context.Canceled {
		t.Fatalf("Err = %v", ctx.Err())
	}
}

func TestExchangeHeaderValuesAreNotShared(t *testing.T) {
	s := servingInProcess(t, nil, discardLog())
	var ex *exchange
	h := s.withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex = exchangeFrom(r)
		hd := w.Header()
		hd["Content-Length"] = ex.lengthValue(100)
		// Adding to a header whose value lives in the exchange must not
		// write into the exchange.
		hd.Add("X-Request-Id", "second")
		hd.Add("Content-Length", "7")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/v1/status"))
	if got := rec.Header()["X-Request-Id"]; len(got) != 2 || got[0] != ex.id || got[1] != "second" {
		t.Fatalf("X-Request-Id %q, id %q", got, ex.id)
	}
	if ex.idHeader[0] != ex.id || ex.lengthHeader[0] != "100" {
		t.Fatalf("the exchange's header storage was overwritten: %q %q", ex.idHeader, ex.lengthHeader)
	}
}

func TestDecimal(t *testing.T) {
	for _, n := range []int{-1, 0, 9, 99, 100, 1023, 1024, 70000, 1 << 40} {
		if got, want := decimal(n), strconv.Itoa(n); got != want {
			t.Errorf("decimal(%d) = %q, want %q", n, got, want)
		}
	}
	for n := range len(smallDecimals) {
		if got := decimal(n); got != strconv.Itoa(n) {
			t.Fatalf("decimal(%d) = %q", n, got)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	g := newRequestIDs()
	g.n.Store(1<<64 - 2) // the longest counter: 13 base-36 digits
	for range 2 {
		id := g.next()
		want := g.prefix + "-" + strconv.FormatUint(g.n.Load(), 36)
		if id != want || !validRequestID(id) {
			t.Fatalf("id %q, want %q", id, want)
		}
	}
}
