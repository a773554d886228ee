package server_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server"
	"amaters-server/server/config"
	"amaters-server/server/store"
)

// replicatedEngine is an Engine written outside package server with only
// exported names, as the cluster edition's would be: Write hands the
// request to an "applier" (here one goroutine; in a cluster, raft's
// committed entries) that applies it with store.Apply and a growing
// applied index, and returns that result. Guards are evaluated by Apply,
// never by the engine or the server.
type replicatedEngine struct {
	db  *lsm.DB
	st  *store.Store
	mu  sync.Mutex // guards index, applies and closed
	idx uint64
	// applies counts applied requests, to see that writes reached here.
	applies int
	closed  bool
}

func openReplicated(t *testing.T) *replicatedEngine {
	db, err := lsm.Open("db", lsm.Options{FS: lsm.NewMemFS()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(db, store.Options{ExpireInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return &replicatedEngine{db: db, st: st}
}

func (e *replicatedEngine) Write(ctx context.Context, req store.Request) (store.Result, error) {
	e.mu.Lock() // the log's order
	defer e.mu.Unlock()
	if e.closed {
		return store.Result{}, server.ErrClosed
	}
	e.idx++
	req.AppliedIndex = e.idx
	res, err := e.st.Apply([]store.Request{req})
	if err != nil {
		return store.Result{}, err
	}
	e.applies++
	return res[0], nil
}

func (e *replicatedEngine) Get(c string, key []byte, now time.Time) (store.Entry, uint64, error) {
	return e.st.Get(c, key, now)
}

func (e *replicatedEngine) Range(c string, start, end []byte, limit, maxBytes int, now time.Time) ([]store.Item, bool, []byte, uint64, error) {
	return e.st.Range(c, start, end, limit, maxBytes, now)
}

func (e *replicatedEngine) Collections(after string, limit int, now time.Time, allow func(string) bool) ([]string, bool, error) {
	return e.st.Collections(after, limit, now, allow)
}

func (e *replicatedEngine) Checkpoint() (server.Checkpoint, error) {
	return nil, errors.New("replicated engine: no checkpoints")
}

func (e *replicatedEngine) Stats() server.EngineStats {
	return server.EngineStats{Revision: e.st.Revision()}
}

func (e *replicatedEngine) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	return errors.Join(e.st.Close(), e.db.Close())
}

// TestEngineSeam: a server runs on an engine given in Options.OpenEngine,
// serves the API from it with guards evaluated in the engine's apply, and
// closes it at shutdown.
func TestEngineSeam(t *testing.T) {
	eng := openReplicated(t)
	var opened config.Config
	opts := server.Options{
		Logger: discardLogger(),
		OpenEngine: func(ctx context.Context, cfg config.Config, log *slog.Logger) (server.Engine, error) {
			opened = cfg
			return eng, nil
		},
	}
	// Registered first, so it runs after startServerWith's cleanup has
	// stopped the server.
	t.Cleanup(func() {
		// 3 PUTs, the failed guarded PUT (a request applied, changing
		// nothing), the batch.
		if !eng.closed || eng.applies != 5 || eng.st.AppliedIndex() != 5 {
			t.Errorf("after the server stopped: closed %v, %d applies, applied index %d", eng.closed, eng.applies, eng.st.AppliedIndex())
		}
	})
	ts := startServerWith(t, opts, nil)
	if opened.Server.DataDir == "" {
		t.Fatal("OpenEngine was not given the configuration")
	}
	for _, k := range []string{"a", "b", "c"} {
		if r := do(t, "PUT", keyURL(ts, "col", []byte(k)), []byte("v-"+k)); r.status != 204 {
			t.Fatalf("PUT: %d %s", r.status, r.body)
		}
	}
	r := do(t, "GET", keyURL(ts, "col", []byte("b")), nil)
	if r.status != 200 || string(r.body) != "v-b" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("GET: %d %s %v", r.status, r.body, r.header)
	}
	r = do(t, "PUT", keyURL(ts, "col", []byte("b")), []byte("x"), "If-None-Match", "*")
	wantError(t, r, 412, "precondition_failed")
	if r.header.Get("ETag") != `"2"` {
		t.Fatalf("412 without the current ETag: %v", r.header)
	}
	wantError(t, do(t, "GET", keyURL(ts, "col", []byte("zz")), nil), 404, "not_found")
	got := rangeAll(t, ts, "col", "", 2)
	if len(got) != 3 || string(got[2].Value) != "v-c" {
		t.Fatalf("range: %+v", got)
	}
	postBatch(t, ts, []map[string]string{{"op": "delete", "collection": "col", "key": b64("a")}, {"op": "set", "collection": "other", "key": b64("x"), "value": b64("y")}})
	if r := do(t, "GET", keyURL(ts, "col", []byte("a")), nil); r.status != 404 {
		t.Fatalf("GET after the batch's delete: %d", r.status)
	}
}
