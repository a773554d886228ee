package server

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"amaters-server/blake3"
	"amaters-server/lru"
	"amaters-server/promtext"
	"amaters-server/server/config"
	"amaters-server/server/store"
)

// queryCache caches GET results (values, and absences) and encoded RANGE
// pages, keyed by the BLAKE3 hash of an unambiguous encoding of the
// operation, the collection and the parameters (cacheKey). It is bounded by
// cache.max_entries and cache.max_bytes; a nil *queryCache is off.
//
// # Never stale
//
// Every entry carries the generation it was read or written at, and is used
// only while that generation is current:
//   - a GET entry, the generation of its key's stripe (one of nStripes,
//     chosen by the cache key): writes to a key bump only its stripe;
//   - a RANGE page, its collection's generation: any write to the
//     collection bumps it. Per-collection rather than per-interval, because
//     it is simple to prove, and a page is cheap to recompute; precise
//     interval invalidation would only pay off for collections written and
//     scanned heavily at once.
//
// A writer holds the stripe locks of its keys (in order, so batches cannot
// deadlock), bumps the generations, applies the write to the engine, bumps
// them again, and stores the new values (write-through: a PUT's value, a
// DELETE's absence). A reader takes the generation before it reads the
// engine and tags its entry with it. So:
//   - a reader that read an old value before a write tags it with a
//     generation the write has since bumped: the entry is never used (the
//     classic read-populate/write-invalidate race);
//   - from the first bump on, no reader is served an entry from before the
//     write, so a batch is seen all at once or not at all (the engine
//     applies it atomically);
//   - writes to one stripe are serialized, so the last write's value is the
//     one stored.
//
// Authorization runs before the cache is consulted, and the cached data is
// the same for every caller, so an entry never leaks across identities.
type queryCache struct {
	entries *lru.Sharded[[32]byte, cachedResult]
	stripes [nStripes]stripe

	mu   sync.RWMutex // guards gens
	gens map[string]*atomic.Uint64

	hits, misses *promtext.Counter
}

// nStripes is the number of key stripes: enough that unrelated writes
// rarely share one.
const nStripes = 4096

type stripe struct {
	mu  sync.Mutex // held by writers of the stripe's keys
	gen atomic.Uint64
}

// cachedResult is one cache entry.
type cachedResult struct {
	gen   uint64
	found bool   // GET: the key exists; RANGE: always true
	data  []byte // GET: the value; RANGE: the encoded JSON page
	// modRev is a GET entry's mod revision; rev the revision the entry
	// was read or written at (Amaters-Revision).
	modRev, rev uint64
	// until is when the entry stops being true, in Unix milliseconds (0:
	// never): a GET value's expiry, the earliest expiry on a RANGE page.
	// Expiry changes what a read sees without a write through the cache,
	// so an entry is used only before its until.
	until int64
	// hdr is a GET entry's header values (see getResult).
	hdr *getHeaders
}

// entry is a GET entry's value as the engine returned it.
func (r cachedResult) entry() store.Entry {
	e := store.Entry{Value: r.data, ModRevision: r.modRev}
	if r.until != 0 {
		e.ExpiresAt = time.UnixMilli(r.until).UTC()
	}
	return e
}

// entryOverhead is the cost charged per entry besides its data: the key,
// the entry and the LRU's links, and a GET entry's header values
// (getHeaders and its strings).
const entryOverhead = 256

func newQueryCache(c *config.Config, m *metrics, reg *promtext.Registry) *queryCache {
	if c.Cache.MaxEntries <= 0 || c.Cache.MaxBytes <= 0 {
		return nil
	}
	q := &queryCache{gens: map[string]*atomic.Uint64{}, hits: m.cacheHits, misses: m.cacheMisses}
	q.entries = lru.NewSharded(lru.ShardedOptions[[32]byte, cachedResult]{
		MaxEntries: int(c.Cache.MaxEntries),
		MaxCost:    c.Cache.MaxBytes,
		OnEvict: func(_ [32]byte, _ cachedResult, why lru.EvictReason) {
			if why == lru.Evicted {
				m.cacheEvictions.Inc()
			}
		},
	})
	reg.NewGaugeFunc("amaters_cache_entries", "Entries in the query result cache.",
		func() float64 { return float64(q.entries.Len()) })
	reg.NewGaugeFunc("amaters_cache_bytes", "Bytes charged to the query result cache (data plus per-entry overhead).",
		func() float64 { return float64(q.entries.Cost()) })
	return q
}

// Operation tags of the cache key encoding; part of the key, never reuse.
const (
	cacheGet   = 1
	cacheRange = 2
)

// getKey is the cache key of GET c/key.
func getKey[K string | []byte](c string, key K) [32]byte {
	var buf [256]byte
	b := append(buf[:0], cacheGet)
	b = binary.AppendUvarint(b, uint64(len(c)))
	b = append(b, c...)
	b = append(b, key...)
	return blake3.Sum256(b)
}

// rangeKey is the cache key of a RANGE page: collection, bounds (with
// whether each is set), limit and page byte budget.
func rangeKey(c string, q rangeQuery, maxBytes int) [32]byte {
	var buf [256]byte
	b := append(buf[:0], cacheRange)
	b = binary.AppendUvarint(b, uint64(len(c)))
	b = append(b, c...)
	for _, bound := range [][]byte{q.Start, q.End} {
		if bound == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(bound)))
		b = append(b, bound...)
	}
	b = binary.AppendUvarint(b, uint64(q.Limit))
	b = binary.AppendUvarint(b, uint64(maxBytes))
	return blake3.Sum256(b)
}

// stripeOf returns the index of k's stripe.
func stripeOf(k [32]byte) int { return int(binary.LittleEndian.Uint64(k[:8]) % nStripes) }

// collectionGen returns the generation counter of collection c, creating
// it (writers only).
func (q *queryCache) collectionGen(c string) *atomic.Uint64 {
	q.mu.RLock()
	g := q.gens[c]
	q.mu.RUnlock()
	if g != nil {
		return g
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if g = q.gens[c]; g == nil {
		g = new(atomic.Uint64)
		q.gens[c] = g
	}
	return g
}

// rangeGen returns the current generation of collection c's pages for a
// reader. A collection never written has no counter: its generation is 0,
// and reading does not create one, so range requests on made-up names
// cannot grow the table.
func (q *queryCache) rangeGen(c string) uint64 {
	q.mu.RLock()
	g := q.gens[c]
	q.mu.RUnlock()
	if g == nil {
		return 0
	}
	return g.Load()
}

// lookup returns the entry under k if it is current: if it was read or
// written at generation gen, and has not expired at now.
func (q *queryCache) lookup(k [32]byte, gen uint64, now time.Time) (cachedResult, bool) {
	e, ok := q.entries.Get(k)
	if ok && e.gen == gen && (e.until == 0 || now.UnixMilli() < e.until) {
		q.hits.Inc()
		return e, true
	}
	q.misses.Inc()
	return cachedResult{}, false
}

// fill stores what a reader read at generation gen.
func (q *queryCache) fill(k [32]byte, gen uint64, r cachedResult) {
	r.gen = gen
	q.entries.Add(k, r, int64(len(r.data))+entryOverhead)
}

// fillWrite stores what a writer wrote under k, at the current generation
// of its stripe; the writer holds the stripe's lock (write's stored).
func (q *queryCache) fillWrite(k [32]byte, r cachedResult) {
	q.fill(k, q.stripes[stripeOf(k)].gen.Load(), r)
}

// cachedWrite is one write as the cache sees it.
type cachedWrite struct {
	collection string
	key        [32]byte
}

// writeLock is a writer's hold on the stripes and collection generations
// of its keys (see queryCache). It lives on the writer's stack: small
// writes (a PUT, a DELETE, a short batch) keep their lists in it.
type writeLock struct {
	idxBuf  [4]int
	gensBuf [2]*atomic.Uint64
	idx     []int
	gens    []*atomic.Uint64
}

// lock takes the stripe locks of ws's keys, in index order and once each
// (so that batches cannot deadlock), and bumps the generations: from here
// on no reader is served an entry from before the write. The writer then
// applies the write to the engine, calls bump again, stores what it wrote
// (fillWrite) when the write succeeded, and calls unlock.
func (q *queryCache) lock(l *writeLock, ws []cachedWrite) {
	var colsBuf [2]string
	idx, cols := l.idxBuf[:0], colsBuf[:0]
	for _, w := range ws {
		idx = append(idx, stripeOf(w.key))
		cols = append(cols, w.collection)
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	slices.Sort(cols)
	cols = slices.Compact(cols)
	gens := l.gensBuf[:0]
	for _, c := range cols {
		gens = append(gens, q.collectionGen(c))
	}
	l.idx, l.gens = idx, gens
	for _, i := range idx {
		q.stripes[i].mu.Lock()
	}
	q.bump(l)
}

// bump advances the generations l holds.
func (q *queryCache) bump(l *writeLock) {
	for _, i := range l.idx {
		q.stripes[i].gen.Add(1)
	}
	for _, g := range l.gens {
		g.Add(1)
	}
}

// unlock releases the stripe locks of lock.
func (q *queryCache) unlock(l *writeLock) {
	for _, i := range l.idx {
		q.stripes[i].mu.Unlock()
	}
}
