package server

import (
	"bytes"
	"errors"
	"time"

	"amaters-server/promtext"
	"amaters-server/rbac"
)

// validCollection reports whether c is a collection name (API.md §3);
// the rule lives with the roles that name collections.
func validCollection(c string) bool { return rbac.ValidCollectionName(c) }

// store maps collections onto one engine keyspace. Each engine key is
//
//	len(collection) (1 byte) | collection | user key
//
// The length byte makes the encoding prefix-free: no key of collection "a"
// can equal or sort inside the range of collection "ab", whatever its bytes.
// Collection names are at most 128 bytes, so the length fits in one byte.
type store struct {
	eng   Engine
	cache *queryCache // nil when the query cache is off
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
	ok, notFound, failed *promtext.Counter
	latency              *promtext.Histogram
}

func newStore(eng Engine, cache *queryCache, m *metrics) *store {
	s := &store{eng: eng, cache: cache}
	for i, name := range opNames {
		s.ops[i] = opMetrics{
			ok:       m.storageOps.With(name, "ok"),
			notFound: m.storageOps.With(name, "not_found"),
			failed:   m.storageOps.With(name, "error"),
			latency:  m.storageLatency.With(name),
		}
	}
	return s
}

// kv is one item of a range page.
type kv struct {
	Key, Value []byte
}

// batchOp is one operation of POST /v1/batch, after validation.
type batchOp struct {
	Delete     bool
	Collection string
	Key, Value []byte
}

func collectionPrefix(c string) []byte {
	p := make([]byte, 0, 1+len(c))
	p = append(p, byte(len(c)))
	return append(p, c...)
}

func engineKey[K string | []byte](c string, key K) []byte {
	k := make([]byte, 0, 1+len(c)+len(key))
	k = append(k, byte(len(c)))
	k = append(k, c...)
	return append(k, key...)
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil when there is none (p is all 0xff).
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

func (s *store) observe(op int, start time.Time, errp *error) {
	m := &s.ops[op]
	switch err := *errp; {
	case err == nil:
		m.ok.Inc()
	case errors.Is(err, ErrNotFound):
		m.notFound.Inc()
	default:
		m.failed.Inc()
	}
	m.latency.Observe(time.Since(start).Seconds())
}

func (s *store) Get(c, key string) (v []byte, err error) {
	// The storage metrics measure the engine: a cache hit is not a
	// storage operation (amaters_cache_hits_total counts it).
	if s.cache == nil {
		defer s.observe(opGet, time.Now(), &err)
		return s.eng.Get(engineKey(c, key))
	}
	k := getKey(c, key)
	// The generation is read before the engine: see queryCache.
	tag := s.cache.stripes[stripeOf(k)].gen.Load()
	if e, ok := s.cache.lookup(k, tag); ok {
		if !e.found {
			return nil, ErrNotFound
		}
		return e.data, nil
	}
	start := time.Now()
	v, err = s.eng.Get(engineKey(c, key))
	s.observe(opGet, start, &err)
	switch {
	case err == nil:
		s.cache.fill(k, tag, true, v)
	case errors.Is(err, ErrNotFound):
		s.cache.fill(k, tag, false, nil)
	}
	return v, err
}

func (s *store) Put(c, key string, value []byte) (err error) {
	defer s.observe(opSet, time.Now(), &err)
	if value == nil {
		value = []byte{}
	}
	return s.apply([]batchOp{{Collection: c, Key: []byte(key), Value: value}})
}

func (s *store) Delete(c, key string) (err error) {
	defer s.observe(opDelete, time.Now(), &err)
	return s.apply([]batchOp{{Delete: true, Collection: c, Key: []byte(key)}})
}

// Batch applies every op atomically.
func (s *store) Batch(ops []batchOp) (err error) {
	defer s.observe(opBatch, time.Now(), &err)
	return s.apply(ops)
}

// apply writes ops to the engine atomically, through the cache when it is on.
func (s *store) apply(ops []batchOp) error {
	eops := make([]Op, len(ops))
	for i, o := range ops {
		eops[i] = Op{Delete: o.Delete, Key: engineKey(o.Collection, o.Key), Value: o.Value}
		if !o.Delete && eops[i].Value == nil {
			eops[i].Value = []byte{}
		}
	}
	if s.cache == nil {
		return s.eng.Apply(eops)
	}
	var wsBuf [1]cachedWrite // a PUT or DELETE: no allocation
	ws := wsBuf[:0]
	for i, o := range ops {
		ws = append(ws, cachedWrite{collection: o.Collection, key: getKey(o.Collection, o.Key), del: o.Delete, value: eops[i].Value})
	}
	return s.cache.write(ws, func() error { return s.eng.Apply(eops) })
}

// Range returns up to limit items of collection c with start <= key < end
// (nil start/end: unbounded), from one consistent snapshot. A page also ends
// before an item that would take it past maxBytes of keys and values (it
// always holds at least one item). When more items follow, more is true and
// next is the first key of the next page.
func (s *store) Range(c string, start, end []byte, limit int, maxBytes int) (items []kv, more bool, next []byte, err error) {
	defer s.observe(opRange, time.Now(), &err)
	prefix := collectionPrefix(c)
	lo := append(bytes.Clone(prefix), start...)
	var hi []byte
	if end != nil {
		hi = append(bytes.Clone(prefix), end...)
	} else {
		hi = prefixEnd(prefix)
	}
	size := 0
	err = s.eng.Scan(lo, hi, func(k, v []byte) bool {
		size += len(k) - len(prefix) + len(v)
		if len(items) == limit || (len(items) > 0 && size > maxBytes) {
			more = true
			next = bytes.Clone(k[len(prefix):])
			return false
		}
		items = append(items, kv{Key: bytes.Clone(k[len(prefix):]), Value: bytes.Clone(v)})
		return true
	})
	if err != nil {
		return nil, false, nil, err
	}
	return items, more, next, nil
}

func (s *store) Close() error { return s.eng.Close() }
