package watch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"amaters-server/server/store"
)

// Request is what the server knows of a watch once it has authorized it.
type Request struct {
	// Collection is the watched collection, already checked for read
	// access.
	Collection string
	// Identity is whatever the server uses to re-check access at a
	// reload; the hub only hands it back to Revoke's function.
	Identity any
}

// Source is the history a watch starts from: a *store.Store, or
// whatever holds one (the cluster edition's member).
type Source interface {
	// History is [store.Store.History].
	History(from uint64, fn func(store.Event) bool) (oldest uint64, err error)
	// Revision is [store.Store.Revision].
	Revision() uint64
}

// pageEvents is about how many history events Serve reads per snapshot:
// it sends a page before reading the next, so a slow client does not hold
// an lsm snapshot open, and reads a revision whole however large.
const pageEvents = 1000

// chunkBytes is about how much Serve writes at once.
const chunkBytes = 64 << 10

// query is a parsed watch query.
type query struct {
	f    filter
	from uint64 // 0: the current revision + 1
}

// parseQuery reads prefix, start, end and from from a raw query string,
// and the Last-Event-ID header, which wins over from. start and end are
// raw bytes, percent-encoded, like the range API's; prefix narrows them.
func parseQuery(rawQuery, lastEventID string, maxKey int) (query, error) {
	var q query
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, fmt.Errorf("query string is not valid: %v", err)
	}
	for _, name := range sortedKeys(vals) {
		switch name {
		case "start", "end", "prefix", "from":
		default:
			return q, fmt.Errorf("unknown query parameter %q (prefix, start, end, from)", truncate(name, 64))
		}
		if n := len(vals[name]); n > 1 {
			return q, fmt.Errorf("query parameter %q is given %d times", name, n)
		}
	}
	get := func(name string) []byte {
		if v := vals[name]; len(v) > 0 && v[0] != "" {
			return []byte(v[0])
		}
		return nil
	}
	for _, name := range []string{"start", "end", "prefix"} {
		if v := get(name); len(v) > maxKey {
			return q, fmt.Errorf("%s is %d bytes; keys are at most %d", name, len(v), maxKey)
		}
	}
	q.f.start, q.f.end = get("start"), get("end")
	if q.f.start == nil {
		q.f.start = []byte{}
	}
	if p := get("prefix"); p != nil {
		if bytes.Compare(q.f.start, p) < 0 {
			q.f.start = p
		}
		if pe := prefixEnd(p); pe != nil && (q.f.end == nil || bytes.Compare(pe, q.f.end) < 0) {
			q.f.end = pe
		}
	}
	if v := get("from"); v != nil {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil || n == 0 {
			return q, errors.New("from must be a revision, an integer ≥ 1")
		}
		q.from = n
	}
	if lastEventID != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(lastEventID), 10, 64)
		if err != nil || n == math.MaxUint64 {
			return q, errors.New("Last-Event-ID must be a revision, as sent in an event's id")
		}
		q.from = n + 1
	}
	return q, nil
}

func sortedKeys(m url.Values) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	// A fixed order makes the error name the same parameter every time.
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// prefixEnd is the smallest key greater than every key starting with p,
// nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// writeError answers an error before the stream starts, in the API's JSON
// shape, with extra fields beside code and message.
func writeError(w http.ResponseWriter, status int, code, msg string, extra map[string]any) {
	body := map[string]any{"code": code, "message": msg}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(map[string]any{"error": body})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Serve answers GET /v1/collections/{c}/watch for req, which the caller
// has authorized (read on req.Collection): 400 for a bad query or
// Last-Event-ID, 503 when the hub is closed or full, 410 compacted (with
// "oldest_revision") when the start is older than the history, 500 when
// the history cannot be read; otherwise 200 and the event stream, until
// the client goes, the hub ends the watch, or a write fails. It returns
// when the stream is over.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, st Source, req Request) {
	q, err := parseQuery(r.URL.RawQuery, r.Header.Get("Last-Event-ID"), h.opts.MaxKeyBytes)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", err.Error(), nil)
		return
	}
	wt := newWatcher(req, q.f)
	switch closed, full := h.register(wt); {
	case closed:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the server is shutting down", nil)
		return
	case full:
		writeError(w, http.StatusServiceUnavailable, "unavailable",
			fmt.Sprintf("too many open watches (watch.max_watchers = %d)", h.opts.MaxWatchers), nil)
		return
	}
	defer h.unregister(wt)
	// Read after registering: every later revision reaches the buffer.
	cur := st.Revision()
	from := q.from
	if from == 0 {
		from = cur + 1
	}
	s := &stream{h: h, w: w, rc: http.NewResponseController(w), wt: wt, last: from - 1}

	// The first history page decides between 410 and the stream.
	page, upTo, more, err := s.readPage(st, from)
	var ce *store.CompactedError
	switch {
	case errors.As(err, &ce):
		writeError(w, http.StatusGone, "compacted",
			fmt.Sprintf("revision %d is no longer in the history; the oldest kept is %d", from, ce.Oldest),
			map[string]any{"oldest_revision": ce.Oldest})
		return
	case errors.Is(err, store.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the server is shutting down", nil)
		return
	case err != nil:
		h.opts.Logger.Error("watch: reading the history failed", "error", err.Error())
		writeError(w, http.StatusInternalServerError, "internal", "internal error", nil)
		return
	}
	// The server's WriteTimeout would cut the stream: each write gets
	// its own deadline instead (writeRaw). The request has no body, so
	// its ReadTimeout has no more to bound either (net/http's HTTP/1
	// background read clears it already; say so for every protocol).
	s.rc.SetReadDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	// The database revision when the watch started (API.md §7): a watch
	// without from streams the revisions after it.
	hd.Set("Amaters-Revision", strconv.FormatUint(cur, 10))
	w.WriteHeader(http.StatusOK)
	// Flushing before the first byte also keeps a compression middleware
	// from compressing: it decides on what is buffered, here nothing.
	s.rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	if s.rc.Flush() != nil {
		return
	}
	// The first bytes say the watch is registered: every commit from
	// now on reaches it (tests and scripts wait for this line).
	if s.writeRaw(appendStart(nil, from-1)) != nil {
		return
	}
	s.run(st, r, page, upTo, more)
}

// stream is one watch's state in its handler.
type stream struct {
	h    *Hub
	w    http.ResponseWriter
	rc   *http.ResponseController
	wt   *watcher
	last uint64 // every matching event up to last was sent
	buf  []byte
	live []store.Event // scratch for the events taken from the buffer
}

// readPage reads about pageEvents events of revision from or later from
// one history snapshot, never splitting a revision, and returns those that
// match. upTo is the last revision it read whole (from-1 when it read
// nothing); more reports that it stopped before the snapshot's end.
func (s *stream) readPage(st Source, from uint64) (page []store.Event, upTo uint64, more bool, err error) {
	n := 0
	upTo = from - 1
	_, err = st.History(from, func(ev store.Event) bool {
		if n >= s.h.pageEvents && ev.Revision != upTo {
			more = true
			return false
		}
		n++ // events of other collections count too: they cost the read
		upTo = ev.Revision
		if ev.Collection == s.wt.req.Collection && s.wt.f.match(ev.Key) {
			page = append(page, ev)
		}
		return true
	})
	return page, upTo, more, err
}

// run streams the history from the first page on, then the live events,
// until the watch ends. See # Hand-over from history to live.
func (s *stream) run(st Source, r *http.Request, page []store.Event, upTo uint64, more bool) {
	ctx := r.Context()
	for {
		if s.send(page) != nil {
			return
		}
		before := s.last
		s.last = upTo
		why := s.wt.state()
		switch {
		case why == endOverflow && (more || s.last > before):
			// Writes went on faster than the buffer while we read: what
			// it lost is in the next snapshot, so read on from there.
			s.wt.restart()
			more = true
		case why != endNone:
			s.end(why)
			return
		}
		if !more || ctx.Err() != nil {
			break
		}
		var err error
		page, upTo, more, err = s.readPage(st, s.last+1)
		if err != nil {
			// Trimmed meanwhile, or closed: the client resumes and hears
			// why (410, or the server is down).
			s.end(endOverflow)
			return
		}
	}

	tick := time.NewTicker(s.h.opts.Keepalive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if s.writeRaw([]byte(keepalive)) != nil {
				return
			}
		case <-s.wt.wake:
			events, why := s.wt.take()
			if why != endNone {
				s.end(why)
				return
			}
			i := 0
			for i < len(events) && events[i].Revision <= s.last {
				i++ // read from the history already
			}
			// Copy here, in the watch's own goroutine: the publisher
			// only handed out pointers.
			s.live = s.live[:0]
			for _, ev := range events[i:] {
				s.live = append(s.live, *ev)
			}
			err := s.send(s.live)
			clear(s.live) // keep no key or value alive until the next take
			if err != nil {
				return
			}
			if len(events) > i {
				s.last = events[len(events)-1].Revision
			}
		}
	}
}

// send writes events, which never split a revision, and counts them.
func (s *stream) send(events []store.Event) error {
	for len(events) > 0 {
		// Cut at about chunkBytes, at a revision boundary, so that the id
		// rule (the last event of a revision) holds per chunk.
		n, size := 0, 0
		for n < len(events) && (size < chunkBytes || events[n].Revision == events[n-1].Revision) {
			size += 64 + 2*(len(events[n].Key)+len(events[n].Value))
			n++
		}
		s.buf = appendEvents(s.buf[:0], events[:n])
		if err := s.writeRaw(s.buf); err != nil {
			return err
		}
		s.h.sent.Add(uint64(n))
		events = events[n:]
	}
	if cap(s.buf) > 4*chunkBytes {
		s.buf = nil
	}
	return nil
}

// end writes the error event that ends the stream for why.
func (s *stream) end(why endReason) {
	var b []byte
	switch why {
	case endOverflow:
		s.h.slow.Add(1)
		b = appendEnd(nil, codeSlowConsumer, s.last+1)
	case endClosed:
		b = appendEnd(nil, codeUnavailable, s.last+1)
	case endRevoked:
		b = appendEnd(nil, codePermissionDenied, 0)
	}
	s.writeRaw(b)
}

// writeRaw writes b and flushes it, under a write deadline of
// WriteTimeout from now: a client that reads keeps its stream however
// long it lasts, one that stops reading is cut.
func (s *stream) writeRaw(b []byte) error {
	s.rc.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}
