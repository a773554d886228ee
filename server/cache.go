package server

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"

	"amaters-server/blake3"
	"amaters-server/lru"
	"amaters-server/promtext"
	"amaters-server/server/config"
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
}

// entryOverhead is the cost charged per entry besides its data.
const entryOverhead = 96

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
// written at generation gen.
func (q *queryCache) lookup(k [32]byte, gen uint64) (cachedResult, bool) {
	e, ok := q.entries.Get(k)
	if ok && e.gen == gen {
		q.hits.Inc()
		return e, true
	}
	q.misses.Inc()
	return cachedResult{}, false
}

// fill stores what a reader read at generation gen.
func (q *queryCache) fill(k [32]byte, gen uint64, found bool, data []byte) {
	q.entries.Add(k, cachedResult{gen: gen, found: found, data: data}, int64(len(data))+entryOverhead)
}

// cachedWrite is one write as the cache sees it.
type cachedWrite struct {
	collection string
	key        [32]byte
	del        bool
	value      []byte
}

// write runs apply (the engine write of ws, atomic) with the cache kept
// consistent as described on queryCache.
func (q *queryCache) write(ws []cachedWrite, apply func() error) error {
	// Small writes (a PUT, a DELETE, a short batch) keep their lists on
	// the stack.
	var idxBuf [4]int
	var colsBuf [2]string
	var gensBuf [2]*atomic.Uint64
	idx, cols := idxBuf[:0], colsBuf[:0]
	for _, w := range ws {
		idx = append(idx, stripeOf(w.key))
		cols = append(cols, w.collection)
	}
	// Lock in index order, once each, so that batches cannot deadlock.
	slices.Sort(idx)
	idx = slices.Compact(idx)
	slices.Sort(cols)
	cols = slices.Compact(cols)
	gens := gensBuf[:0]
	for _, c := range cols {
		gens = append(gens, q.collectionGen(c))
	}
	for _, i := range idx {
		q.stripes[i].mu.Lock()
	}
	defer func() {
		for _, i := range idx {
			q.stripes[i].mu.Unlock()
		}
	}()
	bump := func() {
		for _, i := range idx {
			q.stripes[i].gen.Add(1)
		}
		for _, g := range gens {
			g.Add(1)
		}
	}
	bump()
	err := apply()
	bump()
	if err != nil {
		return err
	}
	// In op order: a batch's last write to a key is the one stored.
	for _, w := range ws {
		q.fill(w.key, q.stripes[stripeOf(w.key)].gen.Load(), !w.del, w.value)
	}
	return nil
}
