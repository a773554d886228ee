package server_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"

	"amaters-server/server"
	"amaters-server/server/config"
)

// mapEngine is an Engine written outside package server with only its
// exported names, as a replicated engine in another module would be: a
// sorted map under a lock.
type mapEngine struct {
	mu     sync.RWMutex // guards m and closed
	m      map[string][]byte
	closed bool
	// applies counts Apply calls, to see that requests reached this engine.
	applies int
}

func (e *mapEngine) Get(key []byte) ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, server.ErrClosed
	}
	v, ok := e.m[string(key)]
	if !ok {
		return nil, server.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (e *mapEngine) Apply(batch []server.Op) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return server.ErrClosed
	}
	e.applies++
	for _, op := range batch {
		if op.Delete {
			delete(e.m, string(op.Key))
		} else {
			e.m[string(op.Key)] = bytes.Clone(op.Value)
		}
	}
	return nil
}

func (e *mapEngine) Scan(lo, hi []byte, fn func(key, value []byte) bool) error {
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return server.ErrClosed
	}
	keys := make([]string, 0, len(e.m))
	for k := range e.m {
		if k >= string(lo) && (hi == nil || k < string(hi)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	values := make([][]byte, len(keys))
	for i, k := range keys {
		values[i] = e.m[k]
	}
	e.mu.RUnlock() // one point in time: the copies above
	for i, k := range keys {
		if !fn([]byte(k), values[i]) {
			break
		}
	}
	return nil
}

func (e *mapEngine) Checkpoint() (server.Checkpoint, error) {
	return nil, errors.New("map engine: no checkpoints")
}

func (e *mapEngine) Stats() server.EngineStats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var n int64
	for k, v := range e.m {
		n += int64(len(k) + len(v))
	}
	return server.EngineStats{SizeBytes: n}
}

func (e *mapEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return nil
}

// TestEngineSeam: a server runs on an engine given in Options.OpenEngine,
// serves the API from it, and closes it at shutdown.
func TestEngineSeam(t *testing.T) {
	eng := &mapEngine{m: map[string][]byte{}}
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
		if !eng.closed || eng.applies != 4 {
			t.Errorf("after the server stopped: closed %v, %d applies", eng.closed, eng.applies)
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
	if r := do(t, "GET", keyURL(ts, "col", []byte("b")), nil); r.status != 200 || string(r.body) != "v-b" {
		t.Fatalf("GET: %d %s", r.status, r.body)
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
	eng.mu.RLock()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range eng.m {
			if !yield(k) {
				return
			}
		}
	})
	eng.mu.RUnlock()
	// Collections are a length-prefixed key prefix.
	if want := []string{"\x03colb", "\x03colc", "\x05otherx"}; !slices.Equal(keys, want) {
		t.Fatalf("engine keys %q, want %q", keys, want)
	}
}
