package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"amaters-server/server/store"
)

// TestCounter: 8 goroutines each make 300 guarded read-modify-write
// increments of one counter through Write, retrying on a failed guard.
// No update is lost: the final value is the number of successes.
func TestCounter(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 100000})
	s := e.s
	const workers, each = 8, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	successes, conflicts := 0, 0
	errc := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				ent, _, err := s.Get("c", []byte("counter"), e.clk.Now())
				n, g := 0, ifAbsent
				switch {
				case err == nil:
					if n, err = strconv.Atoi(string(ent.Value)); err != nil {
						errc <- err
						return
					}
					g = ifRev(ent.ModRevision)
				case !isNotFound(err):
					errc <- err
					return
				}
				_, err = s.Write(context.Background(), store.Request{Ops: []store.Op{
					guarded(put("c", "counter", strconv.Itoa(n+1)), g),
				}})
				switch {
				case err == nil:
					done++
					mu.Lock()
					successes++
					mu.Unlock()
				case errors.Is(err, store.ErrPreconditionFailed):
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	ent, rev, err := s.Get("c", []byte("counter"), e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if string(ent.Value) != strconv.Itoa(successes) || successes != workers*each {
		t.Fatalf("counter %s after %d successful increments (%d conflicts)", ent.Value, successes, conflicts)
	}
	if rev != uint64(successes) || ent.ModRevision != rev {
		t.Fatalf("revision %d, mod revision %d; want %d: one per increment", rev, ent.ModRevision, successes)
	}
	t.Logf("%d increments, %d conflicts, %d groups", successes, conflicts, s.Metrics().Groups)
}

// TestHandOver checks the rule of # Watching in the package doc: a
// watcher that subscribes to OnCommit, then reads History from its
// revision, then takes the live events past the last revision History
// gave, sees every event from its revision exactly once, in order, while
// writers go on.
func TestHandOver(t *testing.T) {
	h := &hub{}
	e := newEnv(t, store.Options{HistoryRevisions: 1 << 20, OnCommit: h.publish})
	s := e.s
	const writers, each, watchers = 4, 150, 6
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range each {
				k := fmt.Sprint("k", rng.IntN(10))
				var ops []store.Op
				switch rng.IntN(4) {
				case 0:
					ops = []store.Op{del("c", k)}
				case 1:
					ops = []store.Op{put("c", k, "a"), put("d", k, "b")}
				default:
					ops = []store.Op{put("c", k, fmt.Sprint(w, "/", i))}
				}
				if _, err := s.Write(context.Background(), store.Request{Ops: ops}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	type watch struct {
		from uint64
		sub  *subscriber
		hist []store.Event
	}
	var ws []*watch
	var wmu sync.Mutex
	var wwg sync.WaitGroup
	for i := range watchers {
		wwg.Go(func() {
			// Start at various points of the writes.
			for s.Revision() < uint64(i*80) {
				if s.Revision() >= writers*each/2 {
					break
				}
				runtime.Gosched()
			}
			w := &watch{from: max(1, s.Revision()-uint64(i*7))}
			w.sub = h.subscribe()
			runtime.Gosched() // let commits land between the two
			if _, err := s.History(w.from, func(ev store.Event) bool { w.hist = append(w.hist, ev); return true }); err != nil {
				t.Error(err)
				return
			}
			wmu.Lock()
			ws = append(ws, w)
			wmu.Unlock()
		})
	}
	wg.Wait()
	wwg.Wait()
	for _, w := range ws {
		got := w.hist
		var last uint64
		if len(got) > 0 {
			last = got[len(got)-1].Revision
		}
		for _, ev := range w.sub.take() {
			if ev.Revision >= w.from && ev.Revision > last {
				got = append(got, ev)
			}
		}
		t.Logf("watch from %d: %d events from History, %d live", w.from, len(w.hist), len(got)-len(w.hist))
		want := history(t, s, w.from)
		if g, wn := eventStrings(got), eventStrings(want); !slices.Equal(g, wn) {
			t.Fatalf("watch from %d (%d from History): %d events, want %d\n got %q\nwant %q", w.from, len(w.hist), len(g), len(wn), g, wn)
		}
	}
	// The feed alone, from the start, is the whole history.
	if g, w := eventStrings(h.all), eventStrings(history(t, s, 1)); !slices.Equal(g, w) {
		t.Fatalf("OnCommit gave %d events, History %d", len(g), len(w))
	}
}

// hub stands for the watch fan-out: OnCommit hands it each group's
// events, which it appends to every subscriber's buffer.
type hub struct {
	mu   sync.Mutex
	subs []*subscriber
	all  []store.Event
	last uint64
}

type subscriber struct {
	mu  sync.Mutex
	buf []store.Event
}

func (h *hub) publish(evs []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		if ev.Revision < h.last {
			panic(fmt.Sprintf("OnCommit out of order: %d after %d", ev.Revision, h.last))
		}
		h.last = ev.Revision
	}
	h.all = append(h.all, evs...)
	for _, s := range h.subs {
		s.mu.Lock()
		s.buf = append(s.buf, evs...)
		s.mu.Unlock()
	}
}

func (h *hub) subscribe() *subscriber {
	s := &subscriber{}
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.mu.Unlock()
	return s
}

func (s *subscriber) take() []store.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf
}

// TestApplyDeterminism applies one sequence of requests (writes and the
// expirer's) to three fresh stores, grouped differently: one request per
// group, random groups, one group. The results and every byte in the
// lsm.DBs are the same. A replay of applied indexes is skipped.
func TestApplyDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	mt := &modelTest{t: t, rng: rng, m: newModel(false)}
	opts := store.Options{HistoryRevisions: 1000}
	a, b, c := newEnv(t, opts), newEnv(t, opts), newEnv(t, opts)
	var reqs []store.Request
	var resA []store.Result
	applyA := func(req store.Request) {
		req.AppliedIndex = uint64(len(reqs) + 1)
		res, err := a.s.Apply([]store.Request{req})
		if err != nil {
			t.Fatal(err)
		}
		reqs, resA = append(reqs, req), append(resA, res[0])
	}
	now := t0
	for range 500 {
		if rng.IntN(8) == 0 {
			now = now.Add(700e6)
			due, err := a.s.DueExpiries(now, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range due {
				applyA(r)
			}
			mt.m.expire(now.UnixMilli())
		}
		req := mt.randRequest(now, rng.IntN(3) == 0)
		mt.m.apply(req)
		applyA(req)
	}
	if a.s.Revision() != mt.m.rev {
		t.Fatalf("revision %d, model %d", a.s.Revision(), mt.m.rev)
	}
	var resB []store.Result
	for i := 0; i < len(reqs); {
		n := min(len(reqs)-i, 1+rng.IntN(20))
		r, err := b.s.Apply(reqs[i : i+n])
		if err != nil {
			t.Fatal(err)
		}
		resB = append(resB, r...)
		i += n
	}
	resC, err := c.s.Apply(reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		if fmt.Sprint(resA[i]) != fmt.Sprint(resB[i]) || fmt.Sprint(resB[i]) != fmt.Sprint(resC[i]) {
			t.Fatalf("request %d: %+v alone, %+v in groups, %+v in one group", i, resA[i], resB[i], resC[i])
		}
	}
	da, db, dc := dump(t, a.db), dump(t, b.db), dump(t, c.db)
	if da != db || db != dc {
		t.Fatalf("the stores differ:\n%s\n----\n%s", da, db)
	}
	replay, err := b.s.Apply(reqs[len(reqs)/2:])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replay {
		if !errors.Is(r.Err, store.ErrAlreadyApplied) {
			t.Fatalf("replayed request: %+v", r)
		}
	}
	if dump(t, b.db) != db {
		t.Fatal("a replay changed the store")
	}
	if got := b.s.AppliedIndex(); got != uint64(len(reqs)) {
		t.Fatalf("AppliedIndex %d, want %d", got, len(reqs))
	}
}

// TestGroupCommit: writes queued behind a group in progress commit as one
// group, in one lsm batch and one log sync, and a failed guard in it
// fails only its own request.
func TestGroupCommit(t *testing.T) {
	gate := make(chan struct{})
	first := true
	onCommit := func([]store.Event) {
		if first {
			first = false
			<-gate // hold the commit lock while the others queue
		}
	}
	e := newEnv(t, store.Options{OnCommit: onCommit})
	s := e.s
	syncs := e.db.Metrics().WALSyncs
	const n = 20
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := s.Write(context.Background(), store.Request{Ops: []store.Op{put("c", "first", "x")}}); err != nil {
			t.Error(err)
		}
	})
	for s.Metrics().Groups == 0 { // the first group is in OnCommit
		runtime.Gosched()
	}
	results := make([]store.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			op := put("c", fmt.Sprint("k", i), "v")
			if i == 7 {
				op.Guard = ifExists // fails: the key is absent
			}
			results[i], errs[i] = s.Write(context.Background(), store.Request{Ops: []store.Op{op}})
		})
	}
	for s.QueueLen() < n {
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	if m := s.Metrics(); m.Groups != 2 || m.Requests != n+1 {
		t.Fatalf("%d groups of %d requests, want 2 groups of %d", m.Groups, m.Requests, n+1)
	}
	if got := e.db.Metrics().WALSyncs - syncs; got != 2 {
		t.Fatalf("%d log syncs, want 2", got)
	}
	revs := map[uint64]bool{}
	for i := range n {
		if i == 7 {
			if !errors.Is(errs[i], store.ErrPreconditionFailed) {
				t.Fatalf("request 7: %v", errs[i])
			}
			continue
		}
		if errs[i] != nil || revs[results[i].Revision] || results[i].Revision < 2 || results[i].Revision > n {
			t.Fatalf("request %d: %+v, %v", i, results[i], errs[i])
		}
		revs[results[i].Revision] = true
	}
	if s.Revision() != n {
		t.Fatalf("revision %d, want %d", s.Revision(), n)
	}
}

// TestConcurrentEverything runs writers, the expirer, the trimmer and
// readers at once (for the race detector), and checks what each read
// can check alone.
func TestConcurrentEverything(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 50, MaxGroupBytes: 4 << 10})
	s, clk := e.s, e.clk
	stop := make(chan struct{})
	var bg, wg sync.WaitGroup
	errc := make(chan error, 16)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 400 {
				c := []string{"a", "bb", "c"}[rng.IntN(3)]
				k := fmt.Sprint("k", rng.IntN(20))
				o := put(c, k, fmt.Sprint(w, i))
				switch rng.IntN(4) {
				case 0:
					o = del(c, k)
				case 1:
					o.ExpiresAt = clk.Now().Add(time.Duration(1+rng.IntN(50)) * time.Millisecond)
				}
				if _, err := s.Write(context.Background(), store.Request{Ops: []store.Op{o}}); err != nil {
					report(err)
				}
				if i%20 == 0 {
					clk.Add(7 * time.Millisecond)
				}
			}
		})
	}
	loop := func(f func() error) {
		bg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(); err != nil {
					report(err)
					return
				}
				runtime.Gosched()
			}
		})
	}
	loop(func() error { _, err := s.ExpireOnce(clk.Now(), 10); return err })
	loop(func() error { _, err := s.TrimHistory(20); return err })
	loop(func() error {
		now := clk.Now()
		items, _, _, rev, err := s.Range("a", nil, nil, 0, 0, now)
		for _, it := range items {
			if it.ModRevision > rev || (!it.ExpiresAt.IsZero() && !now.Before(it.ExpiresAt)) {
				return fmt.Errorf("range at %d returned %+v at %v", rev, it, now)
			}
		}
		return err
	})
	loop(func() error {
		now := clk.Now()
		ent, rev, err := s.Get("bb", []byte("k3"), now)
		if err == nil && (ent.ModRevision > rev || (!ent.ExpiresAt.IsZero() && !now.Before(ent.ExpiresAt))) {
			return fmt.Errorf("get at %d returned %+v at %v", rev, ent, now)
		}
		if err != nil && !isNotFound(err) {
			return err
		}
		_, _, err = s.Collections("", 0, now, nil)
		return err
	})
	loop(func() error {
		last := uint64(0)
		_, err := s.History(s.Metrics().OldestRevision, func(ev store.Event) bool {
			if ev.Revision < last {
				report(fmt.Errorf("history out of order: %d after %d", ev.Revision, last))
			}
			last = ev.Revision
			return true
		})
		if errors.Is(err, store.ErrCompacted) {
			return nil // trimmed between the two calls
		}
		return err
	})
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}
