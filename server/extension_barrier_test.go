package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"amaters-server/server"
	"amaters-server/server/config"
	"amaters-server/server/store"
)

// barrierEngine is replicatedEngine with what a follower of the cluster
// edition adds: a read barrier (ReadIndex) that waits for the test, as a
// follower waits for the leader's answer and its own apply, and writes
// that can fail as a cluster without quorum fails them.
type barrierEngine struct {
	*replicatedEngine
	calls   atomic.Int64
	entered chan struct{} // one send for each barrier that starts waiting
	release chan error    // each receive ends one waiting barrier
	// writeErr, when set, is what Write returns (nothing applied).
	writeErr atomic.Pointer[error]
	// timeout, when set, bounds each barrier as the engine's request
	// timeout does: past it, no quorum (ErrUnavailable).
	timeout atomic.Int64
}

func newBarrierEngine(t *testing.T) *barrierEngine {
	return &barrierEngine{replicatedEngine: openReplicated(t), entered: make(chan struct{}, 64), release: make(chan error)}
}

func (e *barrierEngine) ReadBarrier(ctx context.Context) error {
	e.calls.Add(1)
	e.entered <- struct{}{}
	var expired <-chan time.Time
	if d := time.Duration(e.timeout.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	select {
	case err := <-e.release:
		return err
	case <-expired:
		return fmt.Errorf("%w: no read index within %v", server.ErrUnavailable, time.Duration(e.timeout.Load()))
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *barrierEngine) Write(ctx context.Context, req store.Request) (store.Result, error) {
	if p := e.writeErr.Load(); p != nil {
		return store.Result{}, *p
	}
	return e.replicatedEngine.Write(ctx, req)
}

// applyElsewhere applies a PUT as if another member had committed it:
// straight to the state, not through the server.
func (e *barrierEngine) applyElsewhere(t *testing.T, c, key, value string) {
	t.Helper()
	res, err := e.replicatedEngine.Write(context.Background(), store.Request{Ops: []store.Op{{Kind: store.OpPut, Collection: c, Key: []byte(key), Value: []byte(value)}}, Now: time.Now()})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

func startBarrierServer(t *testing.T) (*testServer, *barrierEngine) {
	eng := newBarrierEngine(t)
	ts := startServerWith(t, server.Options{Logger: discardLogger(), OpenEngine: openWith(eng)}, nil)
	return ts, eng
}

// async runs do in a goroutine; the result arrives on the channel.
func async(t *testing.T, method, url string) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- do(t, method, url, nil) }()
	return ch
}

// TestReadBarrier: a linearizable read (the default) waits for the
// engine's barrier and then sees a write committed while it waited; a
// serializable read never calls it; a failed barrier is 503 unavailable.
func TestReadBarrier(t *testing.T) {
	ts, eng := startBarrierServer(t)
	if r := do(t, "PUT", keyURL(ts, "c", []byte("k")), []byte("v1")); r.status != 204 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if n := eng.calls.Load(); n != 0 {
		t.Fatalf("a write called the read barrier %d times", n)
	}

	for _, tc := range []struct{ name, method, url, want string }{
		{"GET", "GET", keyURL(ts, "c", []byte("k")), "v2"},
		{"GET linearizable", "GET", keyURL(ts, "c", []byte("k")) + "?consistency=linearizable", "v2"},
		{"HEAD", "HEAD", keyURL(ts, "c", []byte("k")), ""},
		{"range", "GET", ts.api + "/v1/collections/c/range", `"value":"djI="`},
		{"collections", "GET", ts.api + "/v1/collections?consistency=linearizable", `"name":"d"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng.applyElsewhere(t, "c", "k", "v1")
			ch := async(t, tc.method, tc.url)
			<-eng.entered // the read waits in the barrier
			// Committed elsewhere while the read waits: the barrier's
			// promise is that the read sees it.
			eng.applyElsewhere(t, "c", "k", "v2")
			eng.applyElsewhere(t, "d", "k", "x")
			eng.release <- nil
			r := <-ch
			if r.status != 200 || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("%d %s, want 200 with %s", r.status, r.body, tc.want)
			}
			if tc.method == "HEAD" && r.header.Get("ETag") == "" {
				t.Fatalf("HEAD: no ETag: %v", r.header)
			}
		})
	}

	// Serializable reads the local state without any barrier.
	before := eng.calls.Load()
	for _, u := range []string{
		keyURL(ts, "c", []byte("k")) + "?consistency=serializable",
		ts.api + "/v1/collections/c/range?consistency=serializable&limit=5",
		ts.api + "/v1/collections?limit=5&consistency=serializable",
	} {
		if r := do(t, "GET", u, nil); r.status != 200 {
			t.Fatalf("GET %s: %d %s", u, r.status, r.body)
		}
	}
	if r := do(t, "HEAD", keyURL(ts, "c", []byte("k"))+"?consistency=serializable", nil); r.status != 200 {
		t.Fatalf("HEAD serializable: %d", r.status)
	}
	if n := eng.calls.Load(); n != before {
		t.Fatalf("serializable reads called the barrier %d times", n-before)
	}

	// Bad consistency values and parameters are 400 before any barrier.
	for _, u := range []string{
		keyURL(ts, "c", []byte("k")) + "?consistency=strong",
		keyURL(ts, "c", []byte("k")) + "?consistency=",
		keyURL(ts, "c", []byte("k")) + "?consistency=serializable&consistency=serializable",
		keyURL(ts, "c", []byte("k")) + "?ttl=5",
		ts.api + "/v1/collections/c/range?consistency=Serializable",
		ts.api + "/v1/collections/c/range?consistency=linearizable&consistency=serializable",
		ts.api + "/v1/collections?consistency=any",
	} {
		wantError(t, do(t, "GET", u, nil), 400, "invalid_argument")
	}
	if n := eng.calls.Load(); n != before {
		t.Fatalf("refused reads called the barrier %d times", n-before)
	}
}

// TestReadBarrierUnavailable: a barrier that times out without quorum
// is 503 unavailable with Retry-After, and says why.
func TestReadBarrierUnavailable(t *testing.T) {
	ts, eng := startBarrierServer(t)
	for _, u := range []string{keyURL(ts, "c", []byte("k")), ts.api + "/v1/collections/c/range", ts.api + "/v1/collections"} {
		ch := async(t, "GET", u)
		<-eng.entered
		eng.release <- fmt.Errorf("%w: no leader known after 5s", server.ErrUnavailable)
		r := <-ch
		wantError(t, r, 503, "unavailable")
		if r.header.Get("Retry-After") == "" || r.header.Get("Amaters-Outcome") != "" {
			t.Errorf("%s: headers %v", u, r.header)
		}
		if msg := errorMessage(t, r); !strings.Contains(msg, "no quorum") || !strings.Contains(msg, "no leader known after 5s") {
			t.Errorf("%s: message %q", u, msg)
		}
	}
}

// TestReadBarrierTimeout: a barrier that gives up at the engine's
// request timeout answers 503 unavailable; the read never reaches the
// state.
func TestReadBarrierTimeout(t *testing.T) {
	ts, eng := startBarrierServer(t)
	eng.applyElsewhere(t, "c", "k", "v")
	eng.timeout.Store(int64(time.Millisecond))
	r := do(t, "GET", keyURL(ts, "c", []byte("k")), nil)
	<-eng.entered
	wantError(t, r, 503, "unavailable")
	if msg := errorMessage(t, r); !strings.Contains(msg, "no read index within 1ms") || r.header.Get("ETag") != "" {
		t.Fatalf("%s %v", r.body, r.header)
	}
	// A serializable read still answers from the local state.
	if r := do(t, "GET", keyURL(ts, "c", []byte("k"))+"?consistency=serializable", nil); r.status != 200 || string(r.body) != "v" {
		t.Fatalf("serializable without quorum: %d %s", r.status, r.body)
	}
}

// TestReplicatedWriteErrors: a write refused without quorum is 503
// unavailable (not applied); one whose outcome is unknown is 503 too,
// says so, and carries Amaters-Outcome: unknown.
func TestReplicatedWriteErrors(t *testing.T) {
	ts, eng := startBarrierServer(t)
	unavailable := fmt.Errorf("%w: proposal dropped", server.ErrUnavailable)
	eng.writeErr.Store(&unavailable)
	r := do(t, "PUT", keyURL(ts, "c", []byte("k")), []byte("v"))
	wantError(t, r, 503, "unavailable")
	if r.header.Get("Amaters-Outcome") != "" || !strings.Contains(errorMessage(t, r), "not applied") {
		t.Errorf("unavailable write: %v %s", r.header, r.body)
	}

	unknown := fmt.Errorf("%w: leader lost after the proposal", server.ErrUnknownOutcome)
	eng.writeErr.Store(&unknown)
	for _, r := range []result{
		do(t, "PUT", keyURL(ts, "c", []byte("k")), []byte("v")),
		do(t, "DELETE", keyURL(ts, "c", []byte("k")), nil, "If-Match", `"3"`),
		postBatch(t, ts, []map[string]string{{"op": "set", "collection": "c", "key": b64("k"), "value": b64("v")}}),
	} {
		wantError(t, r, 503, "unavailable")
		if r.header.Get("Amaters-Outcome") != "unknown" {
			t.Errorf("no Amaters-Outcome: unknown: %v", r.header)
		}
		if msg := errorMessage(t, r); !strings.Contains(msg, "outcome of this write is unknown") || !strings.Contains(msg, "leader lost") {
			t.Errorf("message %q", msg)
		}
	}
}

// TestConsistencyWithoutBarrier: engines without a barrier (memory here)
// accept the parameter; both answers are the same.
func TestConsistencyWithoutBarrier(t *testing.T) {
	ts := startServer(t, nil)
	do(t, "PUT", keyURL(ts, "c", []byte("k")), []byte("v"))
	for _, c := range []string{"linearizable", "serializable"} {
		if r := do(t, "GET", keyURL(ts, "c", []byte("k"))+"?consistency="+c, nil); r.status != 200 || string(r.body) != "v" {
			t.Fatalf("%s: %d %s", c, r.status, r.body)
		}
	}
	wantError(t, do(t, "GET", keyURL(ts, "c", []byte("k"))+"?consistency=eventual", nil), 400, "invalid_argument")
}

func errorMessage(t *testing.T, r result) string {
	t.Helper()
	var e struct{ Error struct{ Message string } }
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("not a JSON error: %s", r.body)
	}
	return e.Error.Message
}

// openWith is an Options.OpenEngine that opens eng.
func openWith(eng server.Engine) func(context.Context, config.Config, *slog.Logger) (server.Engine, error) {
	return func(context.Context, config.Config, *slog.Logger) (server.Engine, error) { return eng, nil }
}
