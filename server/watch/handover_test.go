package watch_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"amaters-server/server/store"
	"amaters-server/server/watch"
)

// follow reads collection c's changes in [start, end) from revision from
// as a careful client does: it keeps a revision's events until the
// revision's id arrives, resumes with Last-Event-ID after its own random
// disconnects (one event in disconnect) and from resume_from after
// slow_consumer, and returns once it has a revision holding a key ending
// in "~end".
func (e *env) follow(t testing.TB, c, start, end string, from uint64, rng *rand.Rand, disconnect int) ([]ev, int) {
	var got, pending []ev
	next := from // the first revision not confirmed
	conns := 0
	q := "start=" + start + "&end=" + end
	for {
		conns++
		lastID := ""
		if next > 1 {
			lastID = strconv.FormatUint(next-1, 10)
		}
		s := e.open(c, q+"&from=1", lastID)
		if s.resp.StatusCode != 200 {
			t.Errorf("follow %s from %d: status %d", c, next, s.resp.StatusCode)
			return got, conns
		}
		pending = pending[:0]
	read:
		for {
			f, err := s.next()
			switch {
			case err != nil:
				t.Errorf("follow %s: %v", c, err)
				return got, conns
			case f.comment != "":
				continue
			case f.event == "error":
				d := decodeEnd(t, f)
				// resume_from may pass revisions with nothing for us; if
				// it skipped one of ours, the final comparison says so.
				if d.Code != "slow_consumer" || d.ResumeFrom < next {
					t.Errorf("follow %s: %+v, want slow_consumer resuming at %d or later", c, d, next)
					return got, conns
				}
				next = d.ResumeFrom
				break read
			}
			v := decode(t, f)
			pending = append(pending, v)
			if f.hasID {
				got = append(got, pending...)
				done := false
				for _, p := range pending {
					done = done || strings.HasSuffix(p.Key, "~end")
				}
				pending = pending[:0]
				next = v.Rev + 1
				if done {
					s.close()
					return got, conns
				}
			}
			if rng.IntN(disconnect) == 0 {
				break read
			}
		}
		s.close()
	}
}

// TestHandOver runs writers (puts, deletes, batches over two
// collections, expiries) while watchers start at random past revisions
// and disconnect and resume at random points, some falling behind a
// small buffer: every watcher's confirmed stream equals the committed
// events for its collection and range, in order, from its start to the
// end marker.
func TestHandOver(t *testing.T) {
	const (
		writers  = 4
		ops      = 150
		watchers = 12
	)
	e := newEnv(t, watch.Options{BufferEvents: 32}, 100000)
	watch.SetPageEvents(e.hub, 7) // many snapshots per catch-up
	keys := []string{"a/1", "a/2", "a/3", "b/1", "b/2", "c"}
	progress := make(chan struct{}, writers*ops)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				op := func() store.Op {
					c := []string{"x", "y"}[rng.IntN(2)]
					k := keys[rng.IntN(len(keys))]
					switch rng.IntN(4) {
					case 0:
						return del(c, k)
					case 1:
						o := put(c, k, "exp")
						o.ExpiresAt = t0.Add(time.Millisecond)
						return o
					}
					return put(c, k, strconv.Itoa(rng.IntN(1000)))
				}
				var req store.Request
				for range 1 + rng.IntN(3)*rng.IntN(2) {
					req.Ops = append(req.Ops, op())
				}
				res, err := e.st.Write(t.Context(), req)
				if err == nil {
					err = res.Err
				}
				if err != nil {
					t.Error(err)
					return
				}
				if rng.IntN(10) == 0 {
					if _, err := e.st.ExpireOnce(t0.Add(time.Hour), 0); err != nil {
						t.Error(err)
						return
					}
				}
				progress <- struct{}{}
			}
		})
	}
	type result struct {
		c, start, end string
		from          uint64
		got           []ev
		conns         int
	}
	results := make(chan result, watchers)
	var fw sync.WaitGroup
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range watchers {
		// Start the watchers while the writes go on.
		for range writers * ops / (watchers + 1) {
			<-progress
		}
		r := result{c: []string{"x", "y"}[i%2], from: 1 + rng.Uint64N(e.st.Revision()+1)}
		if i%3 == 1 {
			r.start, r.end = "a/", "a0"
		}
		seed := rng.Uint64()
		fw.Go(func() {
			r.got, r.conns = e.follow(t, r.c, r.start, r.end, r.from, rand.New(rand.NewPCG(seed, 0)), 40)
			results <- r
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	endRev := e.write(put("x", "~end", ""), put("x", "a/~end", ""), put("y", "~end", ""), put("y", "a/~end", ""))
	fw.Wait()
	close(results)
	for r := range results {
		want := e.expected(r.c, r.start, r.end, r.from, endRev)
		diff(t, fmt.Sprintf("watch %s [%q, %q) from %d over %d connections", r.c, r.start, r.end, r.from, r.conns), r.got, want)
	}
	t.Logf("%d revisions; %+v", endRev, e.hub.Metrics())
}

// TestHandOverWindow commits in the two windows of the hand-over: after
// the watch registered and before History's snapshot (those commits are
// both in the history and in the buffer: no duplicate), and while
// History reads (only in the buffer: no gap).
func TestHandOverWindow(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	for i := range 5 {
		e.write(put("c", fmt.Sprint("k", i), "old"))
	}
	n := 0
	commit := func(tag string) func() {
		return func() {
			for range 3 {
				n++
				if _, err := e.st.Write(t.Context(), store.Request{Ops: []store.Op{
					put("c", fmt.Sprint("k", n%4), tag), put("c", fmt.Sprint("j", n), tag)}}); err != nil {
					t.Error(err)
				}
			}
		}
	}
	e.beforeHistory, e.duringHistory = commit("before"), commit("during")
	for _, from := range []uint64{1, 3, 5} {
		s := e.open("c", "from="+strconv.FormatUint(from, 10), "", "X-Hook", "1")
		// The hooks ran in the first History call, before the answer's
		// headers: the model is complete.
		want := e.expected("c", "", "", from, e.st.Revision())
		diff(t, fmt.Sprintf("from %d", from), s.read(t, len(want)), want)
		r := e.write(put("c", "live", ""))
		if v := decode(t, s.event(t)); v.Rev != r {
			t.Fatalf("from %d: then %v, want the live put at %d", from, v, r)
		}
		s.close()
	}
}
