package watch

import (
	"bytes"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"amaters-server/server/store"
)

// Options configure a Hub. The zero value gives the defaults of API.md
// §8.
type Options struct {
	// BufferEvents is how many events a watcher may fall behind before it
	// is ended as a slow consumer (watch.buffer_events, default 10000).
	BufferEvents int
	// BufferBytes bounds the keys and values a watcher buffers (default
	// 64 MiB), so that large values cannot make the bound by count a
	// bound of gigabytes.
	BufferBytes int
	// QueueEvents bounds the events queued between Publish and the
	// publisher (default 4 × BufferEvents).
	QueueEvents int
	// MaxWatchers is the number of open watches beyond which Serve
	// answers 503 (watch.max_watchers, default 10000).
	MaxWatchers int
	// Keepalive is the period of the keepalive comment on an idle stream
	// (watch.keepalive_ms, default 15 s).
	Keepalive time.Duration
	// WriteTimeout bounds each write to a client (default 30 s).
	WriteTimeout time.Duration
	// MaxKeyBytes bounds prefix, start and end (storage.max_key_bytes,
	// default 4096).
	MaxKeyBytes int
	// Logger gets the publisher's overflow, which ends every watch, and
	// history read failures (default: discard).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.BufferEvents <= 0 {
		o.BufferEvents = 10000
	}
	if o.BufferBytes <= 0 {
		o.BufferBytes = 64 << 20
	}
	if o.QueueEvents <= 0 {
		o.QueueEvents = 4 * o.BufferEvents
	}
	if o.MaxWatchers <= 0 {
		o.MaxWatchers = 10000
	}
	if o.Keepalive <= 0 {
		o.Keepalive = 15 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.MaxKeyBytes <= 0 {
		o.MaxKeyBytes = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Metrics are a Hub's counters, for amaters_watch_*.
type Metrics struct {
	Watchers      int    // open watches (amaters_watch_watchers)
	EventsSent    uint64 // events written to clients (amaters_watch_events_sent_total)
	SlowConsumers uint64 // watches ended as slow consumers (amaters_watch_slow_consumers_total)
}

// Hub fans committed changes out to watchers. It is safe for concurrent
// use; create it with New.
type Hub struct {
	opts       Options
	pageEvents int // history events per snapshot (pageEvents; tests lower it)

	// mu guards watchers, byColl and closed.
	mu       sync.Mutex
	watchers int
	byColl   map[string]map[*watcher]struct{}
	closed   bool

	// qmu guards queue, queued and lost.
	qmu    sync.Mutex
	queue  [][]store.Event
	queued int
	lost   bool // groups were dropped from the queue since the publisher last looked
	kick   chan struct{}

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup

	sent, slow atomic.Uint64
}

// New returns a hub and starts its publisher, which Close stops.
func New(opts Options) *Hub {
	h := &Hub{
		opts:       opts.withDefaults(),
		pageEvents: pageEvents,
		byColl:     map[string]map[*watcher]struct{}{},
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	h.wg.Go(h.publish)
	return h
}

// Publish queues a committed group of events for the watchers and
// returns at once; it is the store's OnCommit. It never blocks: when the
// queue is full the group is dropped, and the publisher ends every watch
// as a slow consumer (see # Fan-out). It takes ownership of events.
func (h *Hub) Publish(events []store.Event) {
	select {
	case <-h.done:
		return // closed: no watch is left to feed
	default:
	}
	h.qmu.Lock()
	if h.queued+len(events) > h.opts.QueueEvents && h.queued > 0 {
		h.lost = true
	} else {
		h.queue = append(h.queue, events)
		h.queued += len(events)
	}
	h.qmu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Gap tells the hub that committed changes were not published to it (a
// replicated member installed a snapshot, which replaces its state without
// OnCommit). After the groups already queued, every watch ends as a slow
// consumer at its first revision not delivered, and its client resumes
// from the history, which the new state holds.
func (h *Hub) Gap() {
	h.qmu.Lock()
	h.lost = true
	h.qmu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// publish is the publisher goroutine.
func (h *Hub) publish() {
	var groups [][]store.Event
	for {
		select {
		case <-h.done:
			return
		case <-h.kick:
		}
		h.qmu.Lock()
		groups, h.queue = h.queue, groups[:0]
		h.queued = 0
		lost := h.lost
		h.lost = false
		h.qmu.Unlock()
		for i, g := range groups {
			h.fanOut(g)
			groups[i] = nil
		}
		if lost {
			// The dropped groups came after the ones fanned out above,
			// so every watch ends at the first revision it did not get.
			h.opts.Logger.Warn("watch: the publisher fell behind the commits; every watch ends as a slow consumer", "queue_events", h.opts.QueueEvents)
			h.mu.Lock()
			for _, ws := range h.byColl {
				for w := range ws {
					w.overflow()
				}
			}
			h.mu.Unlock()
		}
	}
}

// fanOut hands each watcher of a collection in group the group's events
// that it matches, all at once.
func (h *Hub) fanOut(group []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var match []*store.Event
	for i := 0; i < len(group); {
		// The events of one collection next to each other go together;
		// a group touching collections alternately is just more passes.
		c := group[i].Collection
		j := i + 1
		for j < len(group) && group[j].Collection == c {
			j++
		}
		for w := range h.byColl[c] {
			match = match[:0]
			for k := i; k < j; k++ {
				if w.f.match(group[k].Key) {
					match = append(match, &group[k])
				}
			}
			if len(match) > 0 {
				w.add(match, h.opts.BufferEvents, h.opts.BufferBytes)
			}
		}
		i = j
	}
}

// register adds w, or reports why not: the hub is closed, or full.
func (h *Hub) register(w *watcher) (closed, full bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return true, false
	}
	if h.watchers >= h.opts.MaxWatchers {
		return false, true
	}
	h.watchers++
	ws := h.byColl[w.req.Collection]
	if ws == nil {
		ws = map[*watcher]struct{}{}
		h.byColl[w.req.Collection] = ws
	}
	ws[w] = struct{}{}
	return false, false
}

func (h *Hub) unregister(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.byColl[w.req.Collection]
	if _, ok := ws[w]; !ok {
		return
	}
	delete(ws, w)
	if len(ws) == 0 {
		delete(h.byColl, w.req.Collection)
	}
	h.watchers--
}

// Revoke ends, with a permission_denied event, every open watch for
// which allowed(identity, collection) is false; identity is the
// Request's. Call it after a reload changed who may read what. allowed
// is called with the hub's lock held: it must not call the hub.
func (h *Hub) Revoke(allowed func(identity any, collection string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c, ws := range h.byColl {
		for w := range ws {
			if !allowed(w.req.Identity, c) {
				w.end(endRevoked)
			}
		}
	}
}

// Close ends every open watch with the unavailable event, makes Serve
// answer 503 from then on, and stops the publisher. It does not wait for
// the handlers, which return once they wrote the event (within
// WriteTimeout); http.Server.Shutdown waits for them, so call Close
// first. It is idempotent.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		for _, ws := range h.byColl {
			for w := range ws {
				w.end(endClosed)
			}
		}
		h.mu.Unlock()
		close(h.done)
		h.wg.Wait()
	})
}

// Metrics returns the hub's counters; a nil Hub's are zero, so that a
// server can register its metrics before it has a hub.
func (h *Hub) Metrics() Metrics {
	if h == nil {
		return Metrics{}
	}
	h.mu.Lock()
	n := h.watchers
	h.mu.Unlock()
	return Metrics{Watchers: n, EventsSent: h.sent.Load(), SlowConsumers: h.slow.Load()}
}

// filter selects keys: those in [start, end) (a nil end is no bound).
type filter struct {
	start, end []byte
}

func (f *filter) match(key []byte) bool {
	return bytes.Compare(key, f.start) >= 0 && (f.end == nil || bytes.Compare(key, f.end) < 0)
}

// endReason says why a watch must end.
type endReason uint8

const (
	endNone endReason = iota
	endOverflow
	endRevoked
	endClosed
)

// watcher is one open watch's buffer, shared by the publisher (which
// adds) and the watch's handler (which takes).
type watcher struct {
	req Request
	f   filter

	wake chan struct{} // capacity 1: something to take

	// mu guards buf, bytes and why.
	mu    sync.Mutex
	buf   []*store.Event // into the groups Publish was given, which nobody changes
	bytes int
	why   endReason // the first reason wins, except that overflow yields to the others
}

func newWatcher(req Request, f filter) *watcher {
	return &watcher{req: req, f: f, wake: make(chan struct{}, 1)}
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// add appends events (copying the slice, sharing the events), or marks
// the watcher overflowed when they do not fit its bounds.
func (w *watcher) add(events []*store.Event, maxEvents, maxBytes int) {
	n := 0
	for i := range events {
		n += len(events[i].Key) + len(events[i].Value)
	}
	w.mu.Lock()
	switch {
	case w.why == endOverflow:
	case len(w.buf)+len(events) > maxEvents || w.bytes+n > maxBytes:
		w.overflowLocked()
	default:
		w.buf = append(w.buf, events...)
		w.bytes += n
	}
	w.mu.Unlock()
	w.signal()
}

func (w *watcher) overflow() {
	w.mu.Lock()
	w.overflowLocked()
	w.mu.Unlock()
	w.signal()
}

// overflowLocked drops the buffer. w.mu must be held.
func (w *watcher) overflowLocked() {
	if w.why == endNone {
		w.why = endOverflow
	}
	w.buf, w.bytes = nil, 0
}

func (w *watcher) end(why endReason) {
	w.mu.Lock()
	if w.why == endNone || w.why == endOverflow {
		w.why = why
	}
	w.mu.Unlock()
	w.signal()
}

// state returns the reason to end, if any.
func (w *watcher) state() endReason {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.why
}

// take returns the buffered events and the reason to end, if any, and
// empties the buffer. The returned slice is the caller's.
func (w *watcher) take() ([]*store.Event, endReason) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := w.buf
	w.buf, w.bytes = nil, 0
	return buf, w.why
}

// restart reports the reason to end, if any; for an overflow, it empties
// the buffer and clears the mark, for another pass over the history. The
// buffer is kept otherwise.
func (w *watcher) restart() endReason {
	w.mu.Lock()
	defer w.mu.Unlock()
	why := w.why
	if why == endOverflow {
		w.buf, w.bytes = nil, 0
		w.why = endNone
	}
	return why
}
