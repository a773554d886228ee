package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// RangeQuery selects the keys of a range: Start ≤ key < End (nil:
// unbounded), narrowed to the keys beginning with Prefix when it is set.
// Limit is the page size (0: the server's default of 100; at most 10000).
type RangeQuery struct {
	Start, End, Prefix []byte
	Limit              int
}

// Item is one key of a range page.
type Item struct {
	Key, Value []byte
	// ModRevision is the revision of the write that last set the key.
	ModRevision uint64
	// ExpiresAt is when the key expires; zero when it does not.
	ExpiresAt time.Time
}

// Page is one page of a range: its items, whether more follow, where the
// next page starts, and the revision of the snapshot it was read from.
type Page struct {
	Items    []Item
	More     bool
	Next     []byte
	Revision uint64
}

// RangePage reads one page of the range q of collection, starting at after
// (the Next of the previous page; nil for the first).
func (c *Client) RangePage(ctx context.Context, collection string, q RangeQuery, after []byte, opts ...ReadOption) (Page, error) {
	v := url.Values{}
	readOpts(opts).set(v)
	for _, b := range []struct {
		name string
		val  []byte
	}{{"start", q.Start}, {"end", q.End}, {"prefix", q.Prefix}} {
		if b.val != nil {
			v.Set(b.name, string(b.val))
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if after != nil {
		v.Set("next", base64.StdEncoding.EncodeToString(after))
	}
	path := "/v1/collections/" + url.PathEscape(collection) + "/range"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	r, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return Page{}, err
	}
	if r.Status != http.StatusOK {
		return Page{}, errorFrom(r)
	}
	var body struct {
		Items []struct {
			Key       []byte `json:"key"`
			Value     []byte `json:"value"`
			Revision  uint64 `json:"revision"`
			ExpiresAt string `json:"expires_at"`
		} `json:"items"`
		More     bool   `json:"more"`
		Next     []byte `json:"next"`
		Revision uint64 `json:"revision"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return Page{}, fmt.Errorf("the answer is not a range page: %w", err)
	}
	p := Page{More: body.More, Next: body.Next, Revision: body.Revision, Items: make([]Item, len(body.Items))}
	for i, it := range body.Items {
		p.Items[i] = Item{Key: it.Key, Value: it.Value, ModRevision: it.Revision}
		if it.Value == nil {
			p.Items[i].Value = []byte{}
		}
		if it.ExpiresAt != "" {
			p.Items[i].ExpiresAt, _ = time.Parse(time.RFC3339Nano, it.ExpiresAt)
		}
	}
	if p.More && p.Next == nil {
		return Page{}, errors.New("the range page says more follow but gives no next")
	}
	return p, nil
}

// Range iterates over every item of the range q of collection, page after
// page (each page is one snapshot; a range of several pages is not). It
// stops at the first error, which it yields with a zero Item.
func (c *Client) Range(ctx context.Context, collection string, q RangeQuery, opts ...ReadOption) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		var after []byte
		for {
			p, err := c.RangePage(ctx, collection, q, after, opts...)
			if err != nil {
				yield(Item{}, err)
				return
			}
			for _, it := range p.Items {
				if !yield(it, nil) {
					return
				}
			}
			if !p.More {
				return
			}
			after = p.Next
		}
	}
}

// Op is one operation of a [Client.Batch]: Kind "set" (Value under Key,
// expiring after TTL when set), "delete", or "check" (asserts IfRevision
// only). IfRevision, when not nil, guards the op: the key exists with that
// mod revision, or, for 0, the key is absent.
type Op struct {
	Kind       string
	Collection string
	Key, Value []byte
	IfRevision *uint64
	TTL        time.Duration
}

// Rev returns a pointer to n, for Op.IfRevision.
func Rev(n uint64) *uint64 { return &n }

// Batch applies ops atomically, all or none, at one revision, which it
// returns (the current one when nothing changed). A failed guard is an
// *Error matching [ErrPreconditionFailed] whose Index names the op. A
// batch with a guard is retried as a guarded write, one without as an
// unguarded one (see [ErrUnknownOutcome]).
func (c *Client) Batch(ctx context.Context, ops []Op) (uint64, error) {
	type jop struct {
		Op         string  `json:"op"`
		Collection string  `json:"collection"`
		Key        []byte  `json:"key"`
		Value      *[]byte `json:"value,omitempty"`
		IfRevision *uint64 `json:"if_revision,omitempty"`
		TTL        int64   `json:"ttl,omitempty"`
	}
	body := struct {
		Ops []jop `json:"ops"`
	}{Ops: make([]jop, len(ops))}
	guarded, changes := false, false
	for i, o := range ops {
		j := jop{Op: o.Kind, Collection: o.Collection, Key: o.Key, IfRevision: o.IfRevision}
		if o.Kind == "set" {
			v := o.Value
			if v == nil {
				v = []byte{}
			}
			j.Value = &v
			if o.TTL > 0 {
				j.TTL = ttlSeconds(o.TTL)
			}
		}
		if o.Kind != "check" {
			changes = true
		}
		guarded = guarded || o.IfRevision != nil
		body.Ops[i] = j
	}
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	mode := writeRetry(guarded)
	if !changes {
		mode = retryAlways // checks only: a read
	}
	r, err := c.send(ctx, request{method: http.MethodPost, path: "/v1/batch", body: data, contentType: "application/json", retry: mode})
	if err != nil {
		return 0, err
	}
	if r.Status != http.StatusOK {
		return 0, errorFrom(r)
	}
	var res struct {
		Revision uint64 `json:"revision"`
	}
	if err := json.Unmarshal(r.Body, &res); err != nil {
		return 0, fmt.Errorf("the answer is not a batch result: %w", err)
	}
	return res.Revision, nil
}

// Collections returns the names of the collections that hold at least one
// live key the caller may read, in name order, following every page.
func (c *Client) Collections(ctx context.Context, opts ...ReadOption) ([]string, error) {
	var names []string
	next := ""
	for {
		v := url.Values{"limit": {"1000"}}
		readOpts(opts).set(v)
		if next != "" {
			v.Set("next", next)
		}
		path := "/v1/collections?" + v.Encode()
		r, err := c.Do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		if r.Status != http.StatusOK {
			return nil, errorFrom(r)
		}
		var page struct {
			Collections []struct {
				Name string `json:"name"`
			} `json:"collections"`
			More bool   `json:"more"`
			Next string `json:"next"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil {
			return nil, fmt.Errorf("the answer is not a collections page: %w", err)
		}
		for _, c := range page.Collections {
			names = append(names, c.Name)
		}
		if !page.More || page.Next == "" {
			return names, nil
		}
		next = page.Next
	}
}
