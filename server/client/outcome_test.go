package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"amaters-server/server/client"
)

// flakyProxy stands between a client and a real server and, per request
// (numbered from 0), either passes it on, passes it on and then cuts the
// connection without answering (the write was applied, the client cannot
// know), or answers a status itself without passing it on.
type flakyProxy struct {
	target string
	plan   func(n int) string // "pass", "cut", or a status such as "503"
	mu     sync.Mutex
	n      int
	passed int // requests that reached the server
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	step := p.plan(p.n)
	p.n++
	p.mu.Unlock()
	switch step {
	case "503", "502", "429":
		code := map[string]int{"503": 503, "502": 502, "429": 429}[step]
		w.Header().Set("Retry-After", "0")
		http.Error(w, "proxy says no", code)
		return
	}
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequest(r.Method, "http://"+p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer resp.Body.Close()
	p.mu.Lock()
	p.passed++
	p.mu.Unlock()
	if step == "cut" {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// counts returns the requests seen and those that reached the server.
func (p *flakyProxy) counts() (n, passed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, p.passed
}

func flaky(t *testing.T, plan func(n int) string) (*client.Client, *client.Client, *flakyProxy) {
	t.Helper()
	addr, stop, err := startLoopbackServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop() })
	p := &flakyProxy{target: addr, plan: plan}
	ps := httptest.NewServer(p)
	t.Cleanup(ps.Close)
	retry := client.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Seed: 1}
	via, err := client.New(ps.URL, client.Options{Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := client.New(addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return via, direct, p
}

// TestUnguardedWriteNotRepeated: an unguarded PUT whose answer is lost is
// not sent again (it may have been applied: a repeat could undo a
// concurrent write); the error says the outcome is unknown.
func TestUnguardedWriteNotRepeated(t *testing.T) {
	via, direct, p := flaky(t, func(int) string { return "cut" })
	ctx := context.Background()
	_, err := via.Put(ctx, "c", []byte("k"), []byte("v"))
	if !errors.Is(err, client.ErrUnknownOutcome) || errors.Is(err, client.ErrPreconditionFailed) {
		t.Fatalf("Put through a cut connection: %v", err)
	}
	if _, passed := p.counts(); passed != 1 {
		t.Fatalf("the unguarded PUT reached the server %d times, want once", passed)
	}
	if v, err := direct.Get(ctx, "c", []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("the write was applied: %q %v", v, err)
	}
}

// TestUnguardedWriteRetriedWhenNotApplied: 503 and 429 say the server did
// not apply the write, so it is sent again.
func TestUnguardedWriteRetriedWhenNotApplied(t *testing.T) {
	via, _, p := flaky(t, func(n int) string { return []string{"503", "429", "pass"}[min(n, 2)] })
	if rev, err := via.Put(context.Background(), "c", []byte("k"), []byte("v")); err != nil || rev != 1 {
		t.Fatalf("Put after 503 and 429: %d %v", rev, err)
	}
	if n, passed := p.counts(); n != 3 || passed != 1 {
		t.Fatalf("%d attempts, %d reached the server", n, passed)
	}
}

// TestGuardedWriteRetried: a guarded PUT is sent again after its answer
// was lost (it applies at most once); the repeat's 412 is reported as
// both a failed guard and an unknown outcome, since the lost attempt is
// what moved the key on.
func TestGuardedWriteRetried(t *testing.T) {
	via, direct, p := flaky(t, func(n int) string {
		if n == 1 {
			return "cut"
		}
		return "pass"
	})
	ctx := context.Background()
	rev, err := via.Put(ctx, "c", []byte("k"), []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = via.Put(ctx, "c", []byte("k"), []byte("v2"), client.IfMatch(rev))
	if !errors.Is(err, client.ErrUnknownOutcome) || !errors.Is(err, client.ErrPreconditionFailed) {
		t.Fatalf("guarded Put after a cut connection: %v", err)
	}
	if _, passed := p.counts(); passed != 3 {
		t.Fatalf("%d requests reached the server, want 3", passed)
	}
	if e, err := direct.GetEntry(ctx, "c", []byte("k")); err != nil || string(e.Value) != "v2" || e.ModRevision != rev+1 {
		t.Fatalf("after: %+v %v (applied once)", e, err)
	}

	// A proxy's 502 before the server saw it: the repeat applies.
	via2, direct2, _ := flaky(t, func(n int) string { return []string{"pass", "502", "pass"}[min(n, 2)] })
	rev, _ = via2.Put(ctx, "c", []byte("k"), []byte("v1"))
	if rev2, err := via2.Put(ctx, "c", []byte("k"), []byte("v2"), client.IfMatch(rev)); err != nil || rev2 != rev+1 {
		t.Fatalf("guarded Put after a 502: %d %v", rev2, err)
	}
	if v, _ := direct2.Get(ctx, "c", []byte("k")); string(v) != "v2" {
		t.Fatalf("after: %q", v)
	}
}
