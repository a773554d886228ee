package server

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"time"

	"amaters-server/promtext"
	"amaters-server/rbac"
	"amaters-server/server/store"
)

// validCollection reports whether c is a collection name (API.md §3);
// the rule lives with the roles that name collections.
func validCollection(c string) bool { return rbac.ValidCollectionName(c) }

// kvStore is the server's view of the Engine: every read and write of the
// API goes through it, for the metrics and the query cache. Collections,
// revisions, expiry and guards are the engine's (server/store: its doc has
// the key encoding, the value envelope and the revision's persistence).
type kvStore struct {
	eng   Engine
	cache *queryCache // nil when the query cache is off
	now   func() time.Time
	ops   [numOps]opMetrics
}

// The operations counted in amaters_storage_ops_total{op}.
const (
	opGet = iota
	opSet
	opDelete
	opRange
	opBatch
	numOps
)

var opNames = [numOps]string{"get", "set", "delete", "range", "batch"}

// opMetrics are one operation's series, looked up once rather than by
// label on every request.
type opMetrics struct {
	ok, notFound, failed, precondition *promtext.Counter
	latency                            *promtext.Histogram
}

func newStore(eng Engine, cache *queryCache, m *metrics, now func() time.Time) *kvStore {
	s := &kvStore{eng: eng, cache: cache, now: now}
	for i, name := range opNames {
		s.ops[i] = opMetrics{
			ok:           m.storageOps.With(name, "ok"),
			notFound:     m.storageOps.With(name, "not_found"),
			failed:       m.storageOps.With(name, "error"),
			precondition: m.storageOps.With(name, "precondition_failed"),
			latency:      m.storageLatency.With(name),
		}
	}
	return s
}

// batchOp is one operation of POST /v1/batch, after validation.
type batchOp struct {
	Kind       store.OpKind // OpPut, OpDelete or OpCheck
	Collection string
	Key, Value []byte
	Guard      store.Guard
	TTL        int64 // seconds, 0: none (OpPut only)
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (s *kvStore) observe(op int, start time.Time, errp *error) {
	m := &s.ops[op]
	switch err := *errp; {
	case err == nil:
		m.ok.Inc()
	case errors.Is(err, ErrNotFound):
		m.notFound.Inc()
	case errors.Is(err, ErrPreconditionFailed):
		m.precondition.Inc()
	default:
		m.failed.Inc()
	}
	m.latency.Observe(time.Since(start).Seconds())
}

// getResult is what a GET read: the entry, the revision it was read at,
// and the header values answering it, made once per read from the engine
// and shared by the cached answers (a cached GET allocates none).
type getResult struct {
	store.Entry
	rev uint64
	hdr *getHeaders
}

// getHeaders are the values of ETag, Amaters-Revision and (when the key
// expires) Amaters-Expires-At, in one allocation; set once, before the
// struct is shared, and never modified after.
type getHeaders struct {
	arr                [3]string
	etag, rev, expires []string
}

// set fills h for a key at mod revision modRev (found) read or written at
// revision rev, expiring at exp (zero: never).
func (h *getHeaders) set(found bool, modRev, rev uint64, exp time.Time) {
	if found {
		var buf [24]byte
		b := append(buf[:0], '"')
		b = strconv.AppendUint(b, modRev, 10)
		tag := string(append(b, '"'))
		h.arr[0] = tag
		h.etag = h.arr[0:1:1]
		if !exp.IsZero() {
			h.arr[2] = formatExpiry(exp)
			h.expires = h.arr[2:3:3]
		}
	}
	if found && rev == modRev {
		h.arr[1] = h.arr[0][1 : len(h.arr[0])-1] // the same digits
	} else {
		h.arr[1] = strconv.FormatUint(rev, 10)
	}
	h.rev = h.arr[1:2:2]
}

func newGetHeaders(found bool, e store.Entry, rev uint64) *getHeaders {
	h := new(getHeaders)
	h.set(found, e.ModRevision, rev, e.ExpiresAt)
	return h
}

// Get returns the live entry of c/key and the revision it was read at.
//
// The storage metrics measure the engine: a cache hit is not a storage
// operation (amaters_cache_hits_total counts it).
func (s *kvStore) Get(c, key string) (g getResult, err error) {
	now := s.now()
	var k [32]byte
	var tag uint64
	if s.cache != nil {
		k = getKey(c, key)
		// The generation is read before the engine: see queryCache.
		tag = s.cache.stripes[stripeOf(k)].gen.Load()
		if ce, ok := s.cache.lookup(k, tag, now); ok {
			g = getResult{Entry: ce.entry(), rev: ce.rev, hdr: ce.hdr}
			if !ce.found {
				return g, ErrNotFound
			}
			return g, nil
		}
	}
	start := time.Now()
	e, rev, err := s.eng.Get(c, []byte(key), now)
	s.observe(opGet, start, &err)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return getResult{}, err
	}
	found := err == nil
	g = getResult{Entry: e, rev: rev, hdr: newGetHeaders(found, e, rev)}
	if s.cache != nil {
		s.cache.fill(k, tag, cachedResult{found: found, data: e.Value, modRev: e.ModRevision, until: toMs(e.ExpiresAt), rev: rev, hdr: g.hdr})
	}
	return g, err
}

// Write applies req (guards evaluated in the engine's apply) through the
// cache when it is on. op is the operation it is counted as. A failed
// guard or invalid request is returned as the error, with the result.
// putHdr, when not nil, is filled with the answer's header values for a
// request of one PUT (and shared with its cache entry).
func (s *kvStore) Write(ctx context.Context, op int, req store.Request, putHdr *getHeaders) (res store.Result, err error) {
	defer s.observe(op, time.Now(), &err)
	if req.Now.IsZero() {
		req.Now = s.now()
	}
	if s.cache == nil {
		res, err = s.eng.Write(ctx, req)
		if err == nil {
			err = res.Err
		}
		if err == nil && putHdr != nil {
			putHdr.set(true, res.Revision, res.Revision, req.Ops[0].ExpiresAt)
		}
		return res, err
	}
	var wsBuf [1]cachedWrite // a PUT or DELETE: no allocation
	ws := wsBuf[:0]
	for _, o := range req.Ops {
		if o.Kind == store.OpPut || o.Kind == store.OpDelete {
			ws = append(ws, cachedWrite{collection: o.Collection, key: getKey(o.Collection, o.Key)})
		}
	}
	var wl writeLock
	s.cache.lock(&wl, ws)
	defer s.cache.unlock(&wl)
	res, err = s.eng.Write(ctx, req)
	if err == nil {
		err = res.Err
	}
	s.cache.bump(&wl)
	if err != nil {
		return res, err
	}
	// In op order: a batch's last write to a key is the one stored.
	j := 0
	for _, o := range req.Ops {
		var r cachedResult
		switch o.Kind {
		case store.OpPut:
			v := o.Value
			if v == nil {
				v = []byte{}
			}
			r = cachedResult{found: true, data: v, modRev: res.Revision, until: toMs(o.ExpiresAt), rev: res.Revision}
			hdr := putHdr
			if hdr == nil {
				hdr = new(getHeaders)
			}
			hdr.set(true, res.Revision, res.Revision, r.entry().ExpiresAt)
			r.hdr = hdr
		case store.OpDelete:
			r = cachedResult{rev: res.Revision, hdr: newGetHeaders(false, store.Entry{}, res.Revision)}
		default:
			continue
		}
		s.cache.fillWrite(ws[j].key, r)
		j++
	}
	return res, nil
}

// Range returns one page of collection c (see store.Store.Range).
func (s *kvStore) Range(c string, start, end []byte, limit int, maxBytes int) (items []store.Item, more bool, next []byte, rev uint64, err error) {
	defer s.observe(opRange, time.Now(), &err)
	return s.eng.Range(c, start, end, limit, maxBytes, s.now())
}

func (s *kvStore) Close() error { return s.eng.Close() }

// toMs is t in Unix milliseconds, 0 for the zero time (no expiry), as the
// store keeps expiries.
func toMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// RangePage returns the encoded JSON answer of a range query on collection
// c and the revision of its snapshot, from the query cache when it holds
// the page.
func (s *kvStore) RangePage(c string, q rangeQuery) (body []byte, rev uint64, err error) {
	var key [32]byte
	var tag uint64
	now := s.now()
	if s.cache != nil {
		key = rangeKey(c, q, maxPageBytes)
		// The generation is read before the engine: see queryCache.
		tag = s.cache.rangeGen(c)
		if e, ok := s.cache.lookup(key, tag, now); ok {
			return e.data, e.rev, nil
		}
	}
	resp := rangeResponse{Items: []rangeItem{}}
	var until int64
	if q.End == nil || bytes.Compare(q.Start, q.End) < 0 {
		items, more, next, r, err := s.Range(c, q.Start, q.End, q.Limit, maxPageBytes)
		if err != nil {
			return nil, 0, err
		}
		resp.Revision, resp.More = r, more
		if more {
			resp.Next = next
		}
		for _, it := range items {
			ri := rangeItem{Key: it.Key, Value: it.Value, Revision: it.ModRevision}
			if ri.Value == nil {
				ri.Value = []byte{}
			}
			if ms := toMs(it.ExpiresAt); ms != 0 {
				ri.ExpiresAt = formatExpiry(it.ExpiresAt)
				if until == 0 || ms < until {
					until = ms
				}
			}
			resp.Items = append(resp.Items, ri)
		}
	} else {
		// An empty interval: nothing to read but the revision.
		_, _, _, r, err := s.Range(c, nil, []byte{0}, 1, 1)
		if err != nil {
			return nil, 0, err
		}
		resp.Revision = r
	}
	body = encodeJSON(resp)
	if s.cache != nil {
		s.cache.fill(key, tag, cachedResult{found: true, data: body, rev: resp.Revision, until: until})
	}
	return body, resp.Revision, nil
}

// registerStoreMetrics registers the revision and expiry metrics of API.md
// §7, read from the engine at scrape time.
func registerStoreMetrics(reg *promtext.Registry, s *Server) {
	reg.NewGaugeFunc("amaters_storage_revision", "The database revision: the revision of the newest committed write.",
		func() float64 { return float64(s.engineStats().Revision) })
	reg.NewCounterFunc("amaters_storage_expired_total", "Keys deleted by expiry.",
		func() float64 { return float64(s.engineStats().Expired) })
}
