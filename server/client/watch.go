package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// WatchOptions narrow a watch (API.md §8) and tune its reconnects.
type WatchOptions struct {
	// Prefix, or Start and End ([Start, End), nil for no bound), select
	// the keys; none of them: the whole collection.
	Prefix, Start, End []byte
	// From is the first revision to deliver; 0 means the changes
	// committed after the watch starts.
	From uint64
	// IdleTimeout is how long the server may send nothing, not even a
	// keepalive, before the client drops the connection and reconnects
	// (default 45 s, three of the server's default keepalives).
	IdleTimeout time.Duration
	// Reconnects is how many connection attempts in a row may fail
	// (refused, reset, 429, 502, 503, 504) before Watch gives up, once
	// the watch has streamed; each waits per the client's RetryPolicy,
	// and a connection that streams resets the count. 0 means the
	// RetryPolicy's MaxAttempts, negative never gives up (a server
	// restart of any length). The first connection always gets
	// MaxAttempts.
	Reconnects int
	// MaxEventBytes bounds one event's data (default 64 MiB).
	MaxEventBytes int
}

// Event is one committed change of a key.
type Event struct {
	// Kind is "put", "delete" or "expire".
	Kind string
	Key  []byte
	// Value is the put's value (nil for delete and expire).
	Value []byte
	// Revision is the revision of the write; the ops of one batch share
	// it and arrive together, in batch order.
	Revision uint64
	// ExpiresAt is when a put's value expires (zero: never).
	ExpiresAt time.Time
}

// ErrCompacted matches (with errors.Is) the *Error of a watch whose start
// is older than the server's history; its OldestRevision says where the
// history begins.
var ErrCompacted = errors.New("client: revision compacted")

// Watch streams the changes of collection, in revision order, on the
// returned channel, reconnecting by itself with Last-Event-ID after a
// dropped connection, an idle one, a slow_consumer end or a server
// restart, so that every change is delivered exactly once: the events of
// a revision are held until the server confirms the revision whole (its
// id), and a reconnect resumes at the first revision not delivered.
//
// The channel is closed when the watch ends; then the error channel
// yields one error and is closed: ctx's error when ctx ended, else why
// the server refused or ended it: an *Error (a 410 matches ErrCompacted
// and carries OldestRevision; a watch whose access was revoked at a
// reload ends with a 403 permission_denied *Error), or the last
// connection failure once Reconnects attempts in a row failed.
//
// With From = 0 the watch starts after the revision the server names in
// the stream's first id (or its Amaters-Revision header); from a server
// that names none, a reconnect before the first event starts again from
// "now".
func (c *Client) Watch(ctx context.Context, collection string, opts WatchOptions) (<-chan Event, <-chan error) {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 45 * time.Second
	}
	if opts.Reconnects == 0 {
		opts.Reconnects = c.opts.Retry.MaxAttempts
	}
	if opts.MaxEventBytes <= 0 {
		opts.MaxEventBytes = 64 << 20
	}
	events := make(chan Event, 64)
	errc := make(chan error, 1)
	w := &watcher{c: c, ctx: ctx, coll: collection, opts: opts, next: opts.From, out: events,
		hc: &http.Client{Transport: c.tr}} // no Timeout: the stream is long; IdleTimeout guards it
	go func() {
		err := w.run()
		close(events)
		errc <- err
		close(errc)
	}()
	return events, errc
}

type watcher struct {
	c    *Client
	ctx  context.Context
	coll string
	opts WatchOptions
	hc   *http.Client
	out  chan<- Event
	// next is the first revision not delivered (0: unknown yet).
	next uint64
	// idle is the current connection's idle timer, stopped while the
	// receiver takes its time.
	idle *time.Timer
}

// errStreamEnded is a stream that ended for a reason worth a reconnect.
var errStreamEnded = errors.New("client: watch stream ended")

func (w *watcher) run() error {
	rng := xorshift64(w.c.opts.Retry.Seed)
	failures, everStreamed := 0, false
	for {
		streamed, err := w.once()
		if w.ctx.Err() != nil {
			return w.ctx.Err()
		}
		var e *Error
		if errors.As(err, &e) && !Transient(e.Status, nil) {
			return err
		}
		var wait time.Duration
		if streamed {
			everStreamed, failures = true, 0
			if !errors.Is(err, errStreamEnded) {
				// Cut: wait a little, the server may be going down.
				wait = w.c.opts.Retry.backoff(0, &rng)
			} // else slow_consumer or unavailable: resume at once
		} else {
			failures++
			limit := w.opts.Reconnects
			if !everStreamed {
				limit = w.c.opts.Retry.MaxAttempts
			}
			if limit > 0 && failures >= limit {
				return err
			}
			wait = w.c.opts.Retry.backoff(min(failures-1, 30), &rng)
		}
		t := time.NewTimer(wait)
		select {
		case <-w.ctx.Done():
			t.Stop()
			return w.ctx.Err()
		case <-t.C:
		}
	}
}

// once makes one connection and streams from it. streamed reports that
// the server answered 200.
func (w *watcher) once() (streamed bool, err error) {
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	q := url.Values{}
	if w.opts.Prefix != nil {
		q.Set("prefix", string(w.opts.Prefix))
	}
	if w.opts.Start != nil {
		q.Set("start", string(w.opts.Start))
	}
	if w.opts.End != nil {
		q.Set("end", string(w.opts.End))
	}
	if w.next > 0 {
		q.Set("from", strconv.FormatUint(w.next, 10))
	}
	u := w.c.base + "/v1/collections/" + url.PathEscape(w.coll) + "/watch"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return false, err
	}
	w.c.setCredentials(req.Header)
	req.Header.Set("Accept", "text/event-stream")
	if w.next > 1 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(w.next-1, 10))
	}
	// The idle timer runs from the request on: a server that accepts and
	// never answers is dropped too.
	idle := time.AfterFunc(w.opts.IdleTimeout, cancel)
	defer idle.Stop()
	w.idle = idle
	resp, err := w.hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return false, watchError(&Response{Status: resp.StatusCode, Header: resp.Header, Body: body})
	}
	if w.next == 0 {
		if r, err := strconv.ParseUint(resp.Header.Get("Amaters-Revision"), 10, 64); err == nil {
			w.next = r + 1
		}
	}
	p := newSSEReader(resp.Body, w.opts.MaxEventBytes)
	p.onLine = func() { idle.Reset(w.opts.IdleTimeout) }
	var pending []Event // the events of a revision not yet confirmed
	for {
		ev, err := p.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w without an end event", errStreamEnded)
			}
			return true, err
		}
		if ev.IDOnly {
			// The revision the stream starts after.
			if id, err := strconv.ParseUint(ev.ID, 10, 64); err == nil && len(pending) == 0 && w.next == 0 {
				w.next = id + 1
			}
			continue
		}
		switch ev.Type {
		case "put", "delete", "expire":
		case "error":
			return true, w.end(ev.Data)
		default:
			continue // a type this client does not know
		}
		e, err := decodeEvent(ev)
		if err != nil {
			return true, err
		}
		if e.Revision < w.next {
			continue // delivered before a reconnect
		}
		if len(pending) > 0 && pending[0].Revision != e.Revision {
			// A server that sends no id at all: a newer revision
			// confirms the older one.
			if err := w.deliver(pending); err != nil {
				return true, err
			}
			pending = pending[:0]
		}
		pending = append(pending, e)
		if ev.HasID {
			if id, err := strconv.ParseUint(ev.ID, 10, 64); err != nil || id != e.Revision {
				return true, fmt.Errorf("client: watch: event id %q on an event of revision %d", ev.ID, e.Revision)
			}
			if err := w.deliver(pending); err != nil {
				return true, err
			}
			pending = pending[:0]
		}
	}
}

// deliver sends a confirmed revision's events and moves next past it.
func (w *watcher) deliver(evs []Event) error {
	w.idle.Stop()
	defer w.idle.Reset(w.opts.IdleTimeout)
	for _, e := range evs {
		select {
		case w.out <- e:
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
	}
	w.next = evs[len(evs)-1].Revision + 1
	return nil
}

// end handles the error event that ends a stream.
func (w *watcher) end(data string) error {
	var d struct {
		Code       string `json:"code"`
		ResumeFrom uint64 `json:"resume_from"`
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return fmt.Errorf("client: watch: end event %q: %w", data, err)
	}
	switch d.Code {
	case "slow_consumer", "unavailable":
		// Never move next back: it is what filters out repeats.
		if w.next == 0 {
			w.next = d.ResumeFrom
		}
		return fmt.Errorf("%w: %s", errStreamEnded, d.Code)
	case "permission_denied":
		return &Error{Status: http.StatusForbidden, Code: d.Code, Message: "read access to the collection was revoked", Body: []byte(data)}
	}
	return &Error{Status: http.StatusInternalServerError, Code: d.Code, Message: "the watch ended", Body: []byte(data)}
}

// watchError is the *Error of a refused watch.
func watchError(r *Response) error {
	e := errorFrom(r)
	if r.Status == http.StatusGone {
		var body struct {
			Error struct {
				OldestRevision uint64 `json:"oldest_revision"`
			}
		}
		if json.Unmarshal(r.Body, &body) == nil {
			e.OldestRevision = body.Error.OldestRevision
		}
	}
	return e
}

// decodeEvent decodes a change event's data.
func decodeEvent(ev sseEvent) (Event, error) {
	var d struct {
		Key       []byte  `json:"key"`
		Value     *[]byte `json:"value"`
		Revision  uint64  `json:"revision"`
		ExpiresAt string  `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
		return Event{}, fmt.Errorf("client: watch: %s event data: %w", ev.Type, err)
	}
	if d.Revision == 0 {
		return Event{}, fmt.Errorf("client: watch: %s event without a revision", ev.Type)
	}
	e := Event{Kind: ev.Type, Key: d.Key, Revision: d.Revision}
	if d.Value != nil {
		e.Value = *d.Value
		if e.Value == nil {
			e.Value = []byte{}
		}
	}
	if d.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339Nano, d.ExpiresAt)
		if err != nil {
			return Event{}, fmt.Errorf("client: watch: expires_at %q: %w", d.ExpiresAt, err)
		}
		e.ExpiresAt = t
	}
	return e, nil
}
