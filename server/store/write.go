package store

import (
	"context"
	"errors"
	"fmt"

	"amaters-server/lsm"
)

// The write path: a queue with a leader (group commit), and the apply that
// Write's leader, Apply and the expirer share.
//
// A writer queues its request under mu. If no writer leads, it leads: it
// takes the requests at the head of the queue (its own first) up to
// MaxGroupBytes, and, under commitMu, evaluates and applies them as one
// lsm batch; then it wakes the members of its group with their results
// and hands the lead to the new head of the queue, if any. While a group
// is in lsm (its log write and fsync), new writers queue and form the next
// group, so N concurrent writers cost about N/groupsize fsyncs, and a
// guard is never evaluated against a write that could still fail.
//
// Invariant: the leader is the head of the queue when it takes its group,
// and the queue is empty whenever no one leads (a writer that finds no
// leader leads, and a leader gives up the lead only on an empty queue).
//
// Rejected design: evaluating guards with a read before queuing, and
// re-checking in the apply. The apply has to read anyway, and the early
// read only adds a race to reason about.

// waiter is one queued Write.
type waiter struct {
	req   Request
	res   Result
	size  int
	wake  chan struct{} // capacity 1: signalled once, to lead or when done
	taken bool          // in a group being committed (s.mu)
	lead  bool          // told to lead (s.mu)
}

// Write evaluates and commits req in a group with concurrent writes, and
// returns once the group is durable per the lsm sync mode and visible. A
// request whose guard fails returns its Result and a *GuardError; one the
// store cannot apply returns an error wrapping ErrInvalid. A zero req.Now
// is taken from Options.Now.
//
// ctx bounds the wait in the queue: a request still queued when ctx ends
// is withdrawn, and Write returns ctx's error; once its group has been
// taken, Write waits for the outcome.
func (s *Store) Write(ctx context.Context, req Request) (Result, error) {
	if req.Now.IsZero() {
		req.Now = s.opts.Now()
	}
	w, _ := s.waiters.Get().(*waiter)
	if w == nil {
		w = &waiter{wake: make(chan struct{}, 1)}
	}
	w.req, w.size = req, req.size()
	defer func() {
		*w = waiter{wake: w.wake}
		s.waiters.Put(w)
	}()

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return Result{}, ErrClosed
	}
	s.writers.Add(1)
	defer s.writers.Done()
	s.queue = append(s.queue, w)
	if !s.leading {
		s.leading = true
		s.mu.Unlock()
	} else {
		s.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			s.mu.Lock()
			if !w.taken && !w.lead {
				for i, q := range s.queue {
					if q == w {
						s.queue = append(s.queue[:i], s.queue[i+1:]...)
						break
					}
				}
				s.mu.Unlock()
				return Result{}, ctx.Err()
			}
			s.mu.Unlock()
			<-w.wake
		}
		if !w.lead {
			return w.res, w.res.Err
		}
	}
	s.lead()
	return w.res, w.res.Err
}

// lead commits one group from the head of the queue, whose head is the
// caller's own waiter, and passes the lead on.
func (s *Store) lead() {
	s.mu.Lock()
	n, size := 1, s.queue[0].size
	for n < len(s.queue) && size+s.queue[n].size <= s.opts.MaxGroupBytes {
		size += s.queue[n].size
		n++
	}
	group := append(s.lgroup[:0], s.queue[:n]...)
	for _, w := range group {
		w.taken = true
	}
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	s.mu.Unlock()

	s.commitMu.Lock()
	if s.commitClosed {
		// Close waits for Writes, so this does not happen; but never
		// apply after Close.
		for _, w := range group {
			w.res = Result{Err: ErrClosed}
		}
	} else {
		reqs := s.greqs[:0]
		for _, w := range group {
			reqs = append(reqs, w.req)
		}
		res := s.commit(reqs)
		for i, w := range group {
			w.res = res[i]
		}
		clear(reqs)
		s.greqs = reqs[:0]
	}
	s.commitMu.Unlock()

	for _, w := range group[1:] {
		w.wake <- struct{}{}
	}
	clear(group)
	s.lgroup = group[:0]
	s.mu.Lock()
	if len(s.queue) > 0 {
		s.queue[0].lead = true
		s.queue[0].wake <- struct{}{}
	} else {
		s.leading = false
	}
	s.mu.Unlock()
}

// Apply evaluates and commits reqs in order as one group (one lsm batch),
// synchronously, for a caller that orders requests itself: the cluster
// edition's apply loop. Its results and the bytes it writes depend only on
// the state and reqs: no clock, no lsm sequence number, no map order, so
// every member of a cluster reaches the same verdicts and revisions.
// Per-request failures are in the Results; the error is a storage failure
// that failed every request (nothing of the group was applied), or
// ErrClosed.
func (s *Store) Apply(reqs []Request) ([]Result, error) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if s.commitClosed {
		return nil, ErrClosed
	}
	res := s.commit(reqs)
	out := make([]Result, len(res))
	copy(out, res)
	for _, r := range out {
		if r.Err != nil && !isRequestError(r.Err) {
			return out, r.Err
		}
	}
	return out, nil
}

// isRequestError reports whether err is a verdict on one request rather
// than a failure of its group.
func isRequestError(err error) bool {
	return errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrAlreadyApplied)
}

// commit evaluates reqs in order against the committed state and the
// overlay of the group's earlier requests, applies the group as one lsm
// batch, publishes the revision and calls OnCommit. It returns the
// results in s.gres. s.commitMu must be held.
func (s *Store) commit(reqs []Request) []Result {
	res := s.gres[:0]
	for range reqs {
		res = append(res, Result{})
	}
	s.gres = res
	g := group{s: s, rev: s.rev.Load(), applied: s.applied.Load(), b: &s.batch, buf: s.scratch[:0], ov: &s.ov}
	g.wantEvents = s.opts.OnCommit != nil
	defer func() {
		s.batch.Reset()
		s.ov.reset()
		if cap(g.buf) <= 64<<10 {
			s.scratch = g.buf[:0]
		}
	}()
	changed := false
	for i := range reqs {
		res[i] = g.apply(&reqs[i])
		if res[i].Err != nil {
			if !isRequestError(res[i].Err) { // a read failed
				return failAll(res, res[i].Err)
			}
			continue
		}
		changed = changed || res[i].Changed
	}
	s.stats.requests.Add(uint64(len(reqs)))
	if changed {
		g.buf = appendU64(g.buf[:0], g.rev)
		s.batch.Put(keyRev, g.buf)
		if s.opts.HistoryRevisions == 0 {
			// No events are written: the history starts after this.
			g.buf = appendU64(g.buf[:0], g.rev+1)
			s.batch.Put(keyHistOldest, g.buf)
		}
	}
	if g.applied != s.applied.Load() {
		g.buf = appendU64(g.buf[:0], g.applied)
		s.batch.Put(keyApplied, g.buf)
	}
	if s.batch.Len() == 0 {
		return res
	}
	s.seq.Add(1)
	err := s.db.Apply(&s.batch)
	if err == nil {
		s.rev.Store(g.rev)
		s.applied.Store(g.applied)
		if changed && s.opts.HistoryRevisions == 0 {
			s.histOldest = g.rev + 1
			s.oldest.Store(g.rev + 1)
		}
	}
	s.seq.Add(1)
	if err != nil {
		// Nothing of the batch is visible; a failed log write or fsync
		// stops lsm's writes until reopened, and a write taken back for
		// lack of space left nothing, so the revisions may be used again.
		return failAll(res, fmt.Errorf("store: commit: %w", err))
	}
	s.stats.groups.Add(1)
	s.stats.expired.Add(g.expired)
	if g.wantEvents && len(g.events) > 0 {
		s.opts.OnCommit(g.events)
	}
	return res
}

func failAll(res []Result, err error) []Result {
	for i := range res {
		res[i] = Result{Err: err}
	}
	return res
}

// group is the state of one group's evaluation.
type group struct {
	s          *Store
	rev        uint64 // the newest revision, committed or taken by the group
	applied    uint64
	b          *lsm.Batch
	buf        []byte // scratch for keys and values going into b
	ov         *overlay
	wantEvents bool
	events     []Event
	arena      []byte // copies of the events' bytes
	expired    uint64
}

// apply evaluates one request: validation, then every guard against the
// state before the request, then the ops in order.
func (g *group) apply(r *Request) Result {
	if r.AppliedIndex != 0 {
		if r.AppliedIndex <= g.applied {
			return Result{Revision: g.rev, Err: ErrAlreadyApplied}
		}
		g.applied = r.AppliedIndex
	}
	nowMs := toMs(r.Now)
	if err := r.validate(nowMs); err != nil {
		return Result{Revision: g.rev, Err: err}
	}
	for i := range r.Ops {
		o := &r.Ops[i]
		if o.Guard.Kind == GuardNone || o.Kind == OpExpire {
			continue
		}
		st, err := g.lookup(o.Collection, o.Key)
		if err != nil {
			return Result{Err: err}
		}
		live := st.present && !expiredAt(st.expMs, nowMs)
		var ok bool
		switch o.Guard.Kind {
		case GuardRevision:
			ok = live && st.modRev == o.Guard.Revision
		case GuardExists:
			ok = live
		case GuardAbsent:
			ok = !live
		}
		if !ok {
			ge := &GuardError{Index: i}
			if live {
				ge.Current = &Entry{Value: append([]byte{}, st.value...), ModRevision: st.modRev, ExpiresAt: fromMs(st.expMs)}
			}
			return Result{Revision: g.rev, Err: ge}
		}
	}

	rev := g.rev + 1
	var index uint32 // of the next event in the revision
	for i := range r.Ops {
		o := &r.Ops[i]
		switch o.Kind {
		case OpPut:
			expMs := toMs(o.ExpiresAt)
			dk := g.dataKey(o.Collection, o.Key)
			// A PUT with an expiry or a guard looks the key up, and drops
			// the previous value's expiry index entry; a plain PUT does
			// not read, and leaves it to the expirer. Whether a PUT looks
			// up depends on the op alone, never on what the overlay
			// happens to hold, so the bytes written do not depend on how
			// requests are grouped.
			if expMs != 0 || o.Guard.Kind != GuardNone {
				st, err := g.lookup(o.Collection, o.Key)
				if err != nil {
					return Result{Err: err}
				}
				if st.present && st.expMs != 0 && st.expMs != expMs {
					g.delExpiry(st.expMs, dk)
				}
			}
			g.ov.set(dk, entryState{present: true, modRev: rev, expMs: expMs, value: o.Value})
			g.buf = appendEnvelope(g.buf[:0], rev, expMs, o.Value)
			g.b.Put(dk, g.buf)
			if expMs != 0 {
				var rb [8]byte
				g.buf = appendExpiryKey(g.buf[:0], expMs, dk)
				g.b.Put(g.buf, appendU64(rb[:0], rev))
			}
			g.event(rev, &index, EventPut, o.Collection, o.Key, expMs, o.Value)
		case OpDelete:
			st, err := g.lookup(o.Collection, o.Key)
			if err != nil {
				return Result{Err: err}
			}
			if !st.present || expiredAt(st.expMs, nowMs) {
				continue
			}
			dk := g.dataKey(o.Collection, o.Key)
			g.b.Delete(dk)
			if st.expMs != 0 {
				g.delExpiry(st.expMs, dk)
			}
			g.ov.set(dk, entryState{})
			g.event(rev, &index, EventDelete, o.Collection, o.Key, 0, nil)
		case OpExpire:
			st, err := g.lookup(o.Collection, o.Key)
			if err != nil {
				return Result{Err: err}
			}
			dk, expMs := g.dataKey(o.Collection, o.Key), toMs(o.ExpiresAt)
			if !st.present || st.expMs != expMs {
				// The entry is stale: the key's value, if any, is indexed
				// under another expiry.
				g.delExpiry(expMs, dk)
				continue
			}
			// The index entry is the current value's (a value rewritten
			// with the same expiry since the expire was made has it too).
			if st.modRev != o.Guard.Revision || !expiredAt(st.expMs, nowMs) {
				continue
			}
			g.delExpiry(expMs, dk)
			g.b.Delete(dk)
			g.ov.set(dk, entryState{})
			g.event(rev, &index, EventExpire, o.Collection, o.Key, 0, nil)
			g.expired++
		}
	}
	if index == 0 {
		return Result{Revision: g.rev}
	}
	g.rev = rev
	return Result{Revision: rev, Changed: true}
}

// dataKey returns the data key of (c, key), built in the overlay's arena
// so that it outlives later encodings in g.buf: it stays valid until the
// group ends.
func (g *group) dataKey(c string, key []byte) []byte {
	return g.ov.key(c, key)
}

func (g *group) delExpiry(expMs int64, dk []byte) {
	g.buf = appendExpiryKey(g.buf[:0], expMs, dk)
	g.b.Delete(g.buf)
}

// event records one change: in the history, and for OnCommit.
func (g *group) event(rev uint64, index *uint32, kind EventKind, c string, key []byte, expMs int64, value []byte) {
	if g.s.opts.HistoryRevisions > 0 {
		g.buf = appendHistKey(g.buf[:0], rev, *index)
		n := len(g.buf)
		g.buf = appendEvent(g.buf, kind, c, key, expMs, value)
		g.b.Put(g.buf[:n], g.buf[n:])
	}
	*index++
	if !g.wantEvents {
		return
	}
	ev := Event{Revision: rev, Kind: kind, Collection: c, ExpiresAt: fromMs(expMs)}
	ev.Key = g.copy(key)
	if kind == EventPut {
		ev.Value = g.copy(value)
	}
	g.events = append(g.events, ev)
}

// copy copies b into the arena. The arena only grows, so earlier copies
// stay valid (in its earlier arrays) when it moves.
func (g *group) copy(b []byte) []byte {
	if g.arena == nil || cap(g.arena)-len(g.arena) < len(b) {
		g.arena = make([]byte, 0, max(4096, len(b)))
	}
	n := len(g.arena)
	g.arena = append(g.arena, b...)
	return g.arena[n:len(g.arena):len(g.arena)]
}

// lookup returns the key's state as the group sees it: the overlay, else
// the committed state (which it then caches in the overlay).
func (g *group) lookup(c string, key []byte) (entryState, error) {
	dk := g.ov.key(c, key)
	if e, ok := g.ov.find(dk); ok {
		return e, nil
	}
	v, err := g.s.db.Get(dk)
	var st entryState
	switch {
	case err == nil:
		st.modRev, st.expMs, st.value, err = decodeEnvelope(v)
		if err != nil {
			return entryState{}, corrupt("envelope", dk, err)
		}
		st.present = true
	case errors.Is(err, lsm.ErrNotFound):
	default:
		return entryState{}, fmt.Errorf("store: read %s: %w", quoteKey(dk), err)
	}
	g.ov.set(dk, st)
	return st, nil
}

// entryState is a key's state in the overlay.
type entryState struct {
	present bool
	modRev  uint64
	expMs   int64
	value   []byte // a request's or a private copy; valid until the group ends
}

// overlay maps data keys to their state as of the group's evaluation so
// far. It is a slice searched linearly while small (most groups touch few
// keys, and a map would allocate), indexed by a map beyond that. It is
// only looked up, never iterated, so map order never shows.
type overlay struct {
	keys    []byte // arena of data keys
	entries []ovEntry
	index   map[string]int
}

type ovEntry struct {
	dk []byte
	st entryState
}

const overlayLinear = 8

// key builds the data key of (c, key) in the arena; it stays valid until
// reset.
func (o *overlay) key(c string, key []byte) []byte {
	need := 1 + len(c) + len(key)
	if cap(o.keys)-len(o.keys) < need {
		o.keys = make([]byte, 0, max(1024, 2*need))
	}
	n := len(o.keys)
	o.keys = appendDataKey(o.keys, c, key)
	return o.keys[n:len(o.keys):len(o.keys)]
}

func (o *overlay) find(dk []byte) (entryState, bool) {
	if o.index != nil {
		if i, ok := o.index[string(dk)]; ok {
			return o.entries[i].st, true
		}
		return entryState{}, false
	}
	for i := range o.entries {
		if string(o.entries[i].dk) == string(dk) {
			return o.entries[i].st, true
		}
	}
	return entryState{}, false
}

func (o *overlay) set(dk []byte, st entryState) {
	if o.index != nil {
		if i, ok := o.index[string(dk)]; ok {
			o.entries[i].st = st
			return
		}
	} else {
		for i := range o.entries {
			if string(o.entries[i].dk) == string(dk) {
				o.entries[i].st = st
				return
			}
		}
	}
	o.entries = append(o.entries, ovEntry{dk: dk, st: st})
	if o.index != nil {
		o.index[string(dk)] = len(o.entries) - 1
	} else if len(o.entries) > overlayLinear {
		o.index = make(map[string]int, 2*len(o.entries))
		for i, e := range o.entries {
			o.index[string(e.dk)] = i
		}
	}
}

// reset empties the overlay, keeping small buffers.
func (o *overlay) reset() {
	clear(o.entries)
	o.entries = o.entries[:0]
	o.index = nil
	if cap(o.keys) > 64<<10 {
		o.keys = nil
	}
	o.keys = o.keys[:0]
}
