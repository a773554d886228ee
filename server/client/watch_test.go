package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/client"
	"amaters-server/server/store"
	"amaters-server/server/watch"
)

// watchEnv is a store on lsm's memory FS feeding a watch hub, served on
// loopback. cut, when set, gives each connection a byte budget after
// which its stream is cut, mid-event as likely as not.
type watchEnv struct {
	t   *testing.T
	st  *store.Store
	hub *watch.Hub
	srv *httptest.Server
	c   *client.Client

	mu        sync.Mutex
	committed []store.Event
	cut       func() int
	conns     int      // watch requests served
	lastIDs   []string // their Last-Event-ID headers
}

func newWatchEnv(t *testing.T, hopts watch.Options, history uint64) *watchEnv {
	t.Helper()
	e := &watchEnv{t: t}
	db, err := lsm.Open("db", lsm.Options{FS: lsm.NewMemFS()})
	if err != nil {
		t.Fatal(err)
	}
	e.hub = watch.New(hopts)
	e.st, err = store.Open(db, store.Options{HistoryRevisions: history, ExpireInterval: -1, TrimInterval: -1,
		OnCommit: func(evs []store.Event) {
			e.mu.Lock()
			e.committed = append(e.committed, evs...)
			e.mu.Unlock()
			e.hub.Publish(evs)
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/collections/{c}/watch", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		cut := e.cut
		e.conns++
		e.lastIDs = append(e.lastIDs, r.Header.Get("Last-Event-ID"))
		e.mu.Unlock()
		if cut != nil {
			w = &cutWriter{ResponseWriter: w, budget: cut()}
		}
		e.hub.Serve(w, r, e.st, watch.Request{Collection: r.PathValue("c"), Identity: r.Header.Get("X-API-Key")})
	})
	e.srv = httptest.NewServer(mux)
	e.c, err = client.New(e.srv.URL, client.Options{APIKey: "alice",
		Retry: client.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.hub.Close()
		e.srv.Close()
		e.st.Close()
		db.Close()
	})
	return e
}

// cutWriter writes budget bytes, then fails every write.
type cutWriter struct {
	http.ResponseWriter
	budget int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) <= c.budget {
		c.budget -= len(p)
		return c.ResponseWriter.Write(p)
	}
	n, _ := c.ResponseWriter.Write(p[:c.budget])
	c.budget = 0
	return n, errors.New("cut")
}

func (c *cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (e *watchEnv) write(ops ...store.Op) uint64 {
	e.t.Helper()
	res, err := e.st.Write(context.Background(), store.Request{Ops: ops})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		e.t.Error(err)
	}
	return res.Revision
}

func wput(k, v string) store.Op {
	return store.Op{Kind: store.OpPut, Collection: "c", Key: []byte(k), Value: []byte(v)}
}

// want is the committed events of c with key in [lo, hi) from revision
// from on, up to and including the revision of the key "~end".
func (e *watchEnv) want(lo, hi string, from uint64) []client.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []client.Event
	for _, ev := range e.committed {
		k := string(ev.Key)
		if ev.Collection == "c" && ev.Revision >= from && k >= lo && k < hi {
			ce := client.Event{Kind: ev.Kind.String(), Key: ev.Key, Revision: ev.Revision}
			if ev.Kind == store.EventPut {
				ce.Value = ev.Value
				if ce.Value == nil {
					ce.Value = []byte{}
				}
			}
			out = append(out, ce)
		}
	}
	return out
}

func sameEvents(t *testing.T, what string, got, want []client.Event) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) {
			t.Fatalf("%s: %d events, want %d (first difference at %d)", what, len(got), len(want), i)
		}
		g, w := got[i], want[i]
		if g.Kind != w.Kind || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) || g.Revision != w.Revision {
			t.Fatalf("%s: event %d is %s %q=%q @%d, want %s %q=%q @%d", what, i,
				g.Kind, g.Key, g.Value, g.Revision, w.Kind, w.Key, w.Value, w.Revision)
		}
	}
}

// TestWatchExactlyOnce runs writers (puts, deletes, batches) while
// watchers follow key ranges through streams cut at random byte offsets,
// often inside a batch, and through slow_consumer ends (a small buffer):
// each must see exactly the committed events of its range, in order,
// with nothing lost or repeated.
func TestWatchExactlyOnce(t *testing.T) {
	e := newWatchEnv(t, watch.Options{BufferEvents: 8}, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	e.cut = func() int {
		rmu.Lock()
		defer rmu.Unlock()
		return 30 + rng.IntN(2000)
	}
	start := e.write(wput("a/start", ""))
	// Every range holds a/2, where the last write puts "END".
	ranges := []struct {
		lo, hi string
		opts   client.WatchOptions
	}{
		{"a/", "a0", client.WatchOptions{Prefix: []byte("a/")}},
		{"a/1", "a/3", client.WatchOptions{Start: []byte("a/1"), End: []byte("a/3")}},
		{"", "\xff", client.WatchOptions{}},
	}
	got := make([][]client.Event, len(ranges))
	errs := make([]error, len(ranges))
	var wg sync.WaitGroup
	for i, r := range ranges {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		opts := r.opts
		opts.From = start
		events, errc := e.c.Watch(ctx, "c", opts)
		wg.Go(func() {
			for ev := range events {
				got[i] = append(got[i], ev)
				if string(ev.Value) == "END" {
					cancel()
				}
			}
			errs[i] = <-errc
		})
	}
	var ww sync.WaitGroup
	for w := range 3 {
		ww.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 100 {
				k := fmt.Sprintf("a/%d", r.IntN(5))
				switch r.IntN(4) {
				case 0:
					e.write(store.Op{Kind: store.OpDelete, Collection: "c", Key: []byte(k)})
				case 1:
					e.write(wput(k, fmt.Sprint(w, i)), wput("b/x", "other"), wput(fmt.Sprintf("a/%d", r.IntN(5)), ""),
						store.Op{Kind: store.OpDelete, Collection: "c", Key: []byte(k)})
				default:
					e.write(wput(k, fmt.Sprint(w, i)))
				}
			}
		})
	}
	ww.Wait()
	e.write(wput("a/2", "END"))
	wg.Wait()
	e.mu.Lock()
	conns := e.conns
	e.mu.Unlock()
	m := e.hub.Metrics()
	t.Logf("%d connections, %d slow consumers, %d events sent", conns, m.SlowConsumers, m.EventsSent)
	if conns < 2*len(ranges) {
		t.Errorf("%d connections for %d watches: the cuts did not happen", conns, len(ranges))
	}
	for i, r := range ranges {
		if !errors.Is(errs[i], context.Canceled) {
			t.Errorf("watch %q..%q ended with %v", r.lo, r.hi, errs[i])
		}
		sameEvents(t, fmt.Sprintf("watch %q..%q", r.lo, r.hi), got[i], e.want(r.lo, r.hi, start))
	}
}

// TestWatchRefusals checks the errors that end a watch for good: 410
// compacted (with the oldest revision), 400, and access revoked.
func TestWatchRefusals(t *testing.T) {
	e := newWatchEnv(t, watch.Options{}, 5)
	for i := range 20 {
		e.write(wput(fmt.Sprint("k", i), "v"))
	}
	if _, err := e.st.TrimHistory(0); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	events, errc := e.c.Watch(ctx, "c", client.WatchOptions{From: 1})
	for range events {
		t.Fatal("an event from a compacted start")
	}
	err := <-errc
	var ce *client.Error
	if !errors.Is(err, client.ErrCompacted) || !errors.As(err, &ce) || ce.OldestRevision != 16 {
		t.Fatalf("from 1 after trimming to 5 of 20: %v (%+v)", err, ce)
	}

	events, errc = e.c.Watch(ctx, "c", client.WatchOptions{Prefix: bytes.Repeat([]byte("p"), 5000)})
	for range events {
	}
	if err := <-errc; !errors.As(err, &ce) || ce.Status != 400 || ce.Code != "invalid_argument" {
		t.Fatalf("an oversized prefix: %v", err)
	}

	events, errc = e.c.Watch(ctx, "c", client.WatchOptions{})
	for e.hub.Metrics().Watchers == 0 {
		runtime.Gosched()
	}
	e.hub.Revoke(func(who any, c string) bool { return who != "alice" })
	for range events {
	}
	if err := <-errc; !errors.As(err, &ce) || ce.Status != 403 || ce.Code != "permission_denied" {
		t.Fatalf("revoked: %v", err)
	}
}

// TestWatchFromNow checks that a watch without From delivers what is
// committed after it starts, and nothing before.
func TestWatchFromNow(t *testing.T) {
	e := newWatchEnv(t, watch.Options{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := e.write(wput("before", "x"))
	events, errc := e.c.Watch(ctx, "c", client.WatchOptions{})
	// The watch starts at some revision after before: write until one
	// arrives.
	var ev client.Event
	for i := 0; ; i++ {
		e.write(wput("after", fmt.Sprint(i)))
		select {
		case ev = <-events:
		default:
			runtime.Gosched()
			continue
		}
		break
	}
	if string(ev.Key) != "after" || ev.Revision <= before || ev.Kind != "put" {
		t.Fatalf("first event %+v, want a put of after", ev)
	}
	e.write(wput("after", "last")) // so that a next event exists
	next := <-events
	if next.Revision != ev.Revision+1 || string(next.Key) != "after" {
		t.Fatalf("second event %+v after %+v", next, ev)
	}
	cancel()
	for range events {
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
}
