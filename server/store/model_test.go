package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/store"
)

// The model: a map with revisions, applying requests as the package doc
// says, one at a time.

type mkey struct{ c, k string }

// dataKey is the key's lsm key, whose order the expirer follows.
func (k mkey) dataKey() string { return string(rune(len(k.c))) + k.c + k.k }

type mentry struct {
	value  string
	modRev uint64
	expMs  int64 // 0: none
}

type model struct {
	data   map[mkey]mentry
	rev    uint64
	events []string // in eventStrings' form
	// states holds a copy of data at every revision, when kept.
	states map[uint64]map[mkey]mentry
}

func newModel(keepStates bool) *model {
	m := &model{data: map[mkey]mentry{}}
	if keepStates {
		m.states = map[uint64]map[mkey]mentry{0: {}}
	}
	return m
}

func (m *model) live(k mkey, nowMs int64) (mentry, bool) {
	e, ok := m.data[k]
	if !ok || (e.expMs != 0 && nowMs >= e.expMs) {
		return mentry{}, false
	}
	return e, true
}

// want is a request's expected outcome.
type want struct {
	rev     uint64
	changed bool
	failed  int    // index of the failed guard, -1 if none
	current uint64 // its key's mod revision, 0 if absent
}

func (m *model) apply(req store.Request) want {
	nowMs := req.Now.UnixMilli()
	for i, o := range req.Ops {
		if o.Guard.Kind == store.GuardNone {
			continue
		}
		e, live := m.live(mkey{o.Collection, string(o.Key)}, nowMs)
		ok := false
		switch o.Guard.Kind {
		case store.GuardRevision:
			ok = live && e.modRev == o.Guard.Revision
		case store.GuardExists:
			ok = live
		case store.GuardAbsent:
			ok = !live
		}
		if !ok {
			return want{rev: m.rev, failed: i, current: e.modRev}
		}
	}
	rev, changed := m.rev+1, false
	for _, o := range req.Ops {
		k := mkey{o.Collection, string(o.Key)}
		switch o.Kind {
		case store.OpPut:
			var exp int64
			if !o.ExpiresAt.IsZero() {
				exp = o.ExpiresAt.UnixMilli()
			}
			m.data[k] = mentry{string(o.Value), rev, exp}
			ev := fmt.Sprintf("%d put %s %s %s", rev, k.c, k.k, o.Value)
			if exp != 0 {
				ev += fmt.Sprintf(" exp=%d", exp-t0.UnixMilli())
			}
			m.events = append(m.events, ev)
			changed = true
		case store.OpDelete:
			if _, live := m.live(k, nowMs); live {
				delete(m.data, k)
				m.events = append(m.events, fmt.Sprintf("%d delete %s %s", rev, k.c, k.k))
				changed = true
			}
		}
	}
	if !changed {
		return want{rev: m.rev, failed: -1}
	}
	m.commit(rev)
	return want{rev: rev, changed: true, failed: -1}
}

func (m *model) commit(rev uint64) {
	m.rev = rev
	if m.states != nil {
		m.states[rev] = maps.Clone(m.data)
	}
}

// expire deletes every key expired at nowMs, in the expiry index's order,
// each at its own revision, and returns how many.
func (m *model) expire(nowMs int64) int {
	var due []mkey
	for k, e := range m.data {
		if e.expMs != 0 && nowMs >= e.expMs {
			due = append(due, k)
		}
	}
	slices.SortFunc(due, func(a, b mkey) int {
		return cmp.Or(cmp.Compare(m.data[a].expMs, m.data[b].expMs), strings.Compare(a.dataKey(), b.dataKey()))
	})
	for _, k := range due {
		delete(m.data, k)
		m.events = append(m.events, fmt.Sprintf("%d expire %s %s", m.rev+1, k.c, k.k))
		m.commit(m.rev + 1)
	}
	return len(due)
}

// rewind sets the model back to revision rev, after a power cut that
// lost the later writes.
func (m *model) rewind(rev uint64) {
	m.data = maps.Clone(m.states[rev])
	m.rev = rev
	i := 0
	for i < len(m.events) {
		var r uint64
		fmt.Sscanf(m.events[i], "%d", &r)
		if r > rev {
			break
		}
		i++
	}
	m.events = m.events[:i]
	for r := range m.states {
		if r > rev {
			delete(m.states, r)
		}
	}
}

var (
	modelCollections = []string{"a", "ab", "b", "zz"}
	modelKeys        = []string{"k0", "k1", "k2", "k3"}
)

type modelTest struct {
	t     *testing.T
	rng   *rand.Rand
	e     *env
	m     *model
	value int
}

func (mt *modelTest) randKey() mkey {
	return mkey{modelCollections[mt.rng.IntN(len(modelCollections))], modelKeys[mt.rng.IntN(len(modelKeys))]}
}

func (mt *modelTest) randGuard(k mkey, nowMs int64) store.Guard {
	switch mt.rng.IntN(8) {
	case 0:
		return ifExists
	case 1:
		return ifAbsent
	case 2, 3:
		if e, ok := mt.m.live(k, nowMs); ok && mt.rng.IntN(4) > 0 {
			return ifRev(e.modRev)
		}
		return ifRev(1 + mt.rng.Uint64N(mt.m.rev+1))
	}
	return store.Guard{}
}

func (mt *modelTest) randRequest(now time.Time, batch bool) store.Request {
	n := 1
	if batch {
		n = 1 + mt.rng.IntN(4)
	}
	req := store.Request{Now: now}
	for range n {
		k := mt.randKey()
		var o store.Op
		switch r := mt.rng.IntN(10); {
		case r < 5 || !batch && r < 7:
			mt.value++
			o = put(k.c, k.k, fmt.Sprint("v", mt.value))
			if mt.rng.IntN(3) == 0 {
				o.ExpiresAt = now.Add(time.Duration(1+mt.rng.IntN(4000)) * time.Millisecond)
			}
		case r < 8 || !batch:
			o = del(k.c, k.k)
		default:
			o = check(k.c, k.k, store.Guard{})
		}
		o.Guard = mt.randGuard(k, now.UnixMilli())
		req.Ops = append(req.Ops, o)
	}
	return req
}

func (mt *modelTest) checkResult(what string, req store.Request, got store.Result, w want) {
	mt.t.Helper()
	var ge *store.GuardError
	switch {
	case w.failed >= 0:
		if !errors.As(got.Err, &ge) || ge.Index != w.failed || got.Revision != w.rev || got.Changed {
			mt.t.Fatalf("%s %+v: got %+v, want ops[%d] failing at revision %d", what, req.Ops, got, w.failed, w.rev)
		}
		cur := uint64(0)
		if ge.Current != nil {
			cur = ge.Current.ModRevision
		}
		if cur != w.current {
			mt.t.Fatalf("%s: failed guard's current revision %d, want %d", what, cur, w.current)
		}
	case got.Err != nil || got.Revision != w.rev || got.Changed != w.changed:
		mt.t.Fatalf("%s %+v: got %+v, want revision %d changed %v", what, req.Ops, got, w.rev, w.changed)
	}
}

// checkState compares every read with the model at the clock's time.
func (mt *modelTest) checkState() {
	mt.t.Helper()
	s, m, now := mt.e.s, mt.m, mt.e.clk.Now()
	nowMs := now.UnixMilli()
	if r := s.Revision(); r != m.rev {
		mt.t.Fatalf("revision %d, model %d", r, m.rev)
	}
	var live []string
	for _, c := range modelCollections {
		var want []string
		for _, k := range modelKeys {
			e, ok := m.live(mkey{c, k}, nowMs)
			ent, rev, err := s.Get(c, []byte(k), now)
			switch {
			case !ok && (!isNotFound(err) || rev != m.rev):
				mt.t.Fatalf("Get %s/%s = %+v, %d, %v; want not found at %d", c, k, ent, rev, err, m.rev)
			case ok && (err != nil || string(ent.Value) != e.value || ent.ModRevision != e.modRev || toMs(ent.ExpiresAt) != e.expMs || rev != m.rev):
				mt.t.Fatalf("Get %s/%s = %+v, %d, %v; want %+v at %d", c, k, ent, rev, err, e, m.rev)
			}
			if ok {
				want = append(want, fmt.Sprintf("%s=%s@%d", k, e.value, e.modRev))
			}
		}
		items, more, _, rev, err := s.Range(c, nil, nil, 0, 0, now)
		var got []string
		for _, it := range items {
			got = append(got, fmt.Sprintf("%s=%s@%d", it.Key, it.Value, it.ModRevision))
		}
		if err != nil || more || rev != m.rev || !slices.Equal(got, want) {
			mt.t.Fatalf("Range %s = %q, %v, %d, %v; want %q at %d", c, got, more, rev, err, want, m.rev)
		}
		if len(want) > 0 {
			live = append(live, c)
		}
	}
	slices.Sort(live)
	if got, _, err := s.Collections("", 0, now, nil); err != nil || !slices.Equal(got, live) {
		mt.t.Fatalf("Collections = %q, %v; want %q", got, err, live)
	}
	if got := eventStrings(history(mt.t, s, 1)); !slices.Equal(got, m.events) {
		mt.t.Fatalf("history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(m.events, "\n"))
	}
}

func toMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// TestModel runs random requests (guarded and not, batches, groups,
// expiries, reopens and crashes) against the model, checking every
// result and, now and then and at the end, every read.
func TestModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, seed, lsm.SyncAlways, 600) })
	}
}

// TestModelPowerCut runs the model with an unsynced log, so that a power
// cut loses recent writes: the store must come back at some revision r
// with exactly the model's state at r (a revision's data, events and
// number are one atomic batch).
func TestModelPowerCut(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, 100+seed, lsm.SyncNone, 600) })
	}
}

func runModel(t *testing.T, seed uint64, sync lsm.SyncMode, steps int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	e := newEnv(t, store.Options{HistoryRevisions: 1 << 20})
	if sync != lsm.SyncAlways {
		e.lopts.Sync = sync
		e.reopen()
	}
	mt := &modelTest{t: t, rng: rng, e: e, m: newModel(sync != lsm.SyncAlways)}
	for step := range steps {
		now := e.clk.Now()
		switch r := rng.IntN(100); {
		case r < 55:
			req := mt.randRequest(now, rng.IntN(3) == 0)
			got, err := e.s.Write(context.Background(), req)
			if err != got.Err {
				t.Fatalf("step %d: Write returned %v, result %v", step, err, got.Err)
			}
			mt.checkResult(fmt.Sprint("step ", step), req, got, mt.m.apply(req))
		case r < 67:
			// A group: later requests see the earlier ones.
			var reqs []store.Request
			var wants []want
			for range 2 + rng.IntN(4) {
				req := mt.randRequest(now, rng.IntN(2) == 0)
				reqs = append(reqs, req)
				// Guards drawn before the earlier requests apply: the
				// model applies in turn, as the store does.
				wants = append(wants, mt.m.apply(req))
			}
			res, err := e.s.Apply(reqs)
			if err != nil {
				t.Fatalf("step %d: Apply: %v", step, err)
			}
			for i := range reqs {
				mt.checkResult(fmt.Sprintf("step %d group[%d]", step, i), reqs[i], res[i], wants[i])
			}
		case r < 80:
			e.clk.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
		case r < 88:
			n, err := e.s.ExpireOnce(now, 0)
			if w := mt.m.expire(now.UnixMilli()); err != nil || n != w {
				t.Fatalf("step %d: ExpireOnce = %d, %v; want %d", step, n, err, w)
			}
		case r < 93:
			mt.checkState()
		case r < 95:
			e.reopen()
			mt.checkState()
		case r < 97:
			e.crash(e.fs.kill())
			mt.checkState()
		default:
			before := e.s.Revision()
			e.crash(e.fs.powerCut(rand.New(rand.NewPCG(seed, uint64(step)))))
			rev := e.s.Revision()
			if sync == lsm.SyncAlways && rev != before {
				t.Fatalf("step %d: revision %d after a power cut, was %d with every write synced", step, rev, before)
			}
			if rev > before {
				t.Fatalf("step %d: revision %d after a power cut, was %d", step, rev, before)
			}
			if rev < before {
				mt.m.rewind(rev)
			}
			mt.checkState()
		}
	}
	mt.checkState()
	e.reopen()
	mt.checkState()
}
