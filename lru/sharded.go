package lru

import (
	"hash/maphash"
	"sync"
)

// ShardedOptions configures a [Sharded] cache. The zero value is an
// unlimited cache with a default number of shards.
type ShardedOptions[K comparable, V any] struct {
	// MaxEntries is the largest number of entries over all shards; 0 means
	// no limit. Each shard keeps at most MaxEntries/Shards (at least 1).
	MaxEntries int
	// MaxCost is the largest sum of costs over all shards; 0 means no
	// limit. Each shard keeps at most MaxCost/Shards (at least 1).
	MaxCost int64
	// Shards is the number of independently locked shards, rounded up to
	// a power of two; 0 means 64.
	Shards int
	// OnEvict, when set, is called for every entry that leaves the cache,
	// with that entry's shard locked.
	OnEvict func(key K, value V, reason EvictReason)
	// Hash spreads keys over shards; nil means hash/maphash.Comparable
	// with a random seed.
	Hash func(K) uint64
}

// shard pads a Cache and its lock to its own cache lines, so that two
// cores working on neighbouring shards do not fight over one line.
type shard[K comparable, V any] struct {
	mu sync.Mutex // guards c
	c  Cache[K, V]
	_  [64]byte
}

// Sharded is a least-recently-used cache split into shards, each an
// independent [Cache] behind its own mutex. Recency is tracked per shard,
// so the entry evicted is the least recently used of its shard, which
// approximates global LRU well when keys hash evenly.
//
// A Sharded is safe for concurrent use. Create it with [NewSharded]; the
// zero value is not usable.
type Sharded[K comparable, V any] struct {
	shards []shard[K, V]
	mask   uint64
	hash   func(K) uint64
}

// NewSharded returns an empty sharded cache.
func NewSharded[K comparable, V any](opts ShardedOptions[K, V]) *Sharded[K, V] {
	n := 64
	if opts.Shards > 0 {
		n = 1
		for n < opts.Shards {
			n <<= 1
		}
	}
	s := &Sharded[K, V]{shards: make([]shard[K, V], n), mask: uint64(n - 1), hash: opts.Hash}
	if s.hash == nil {
		seed := maphash.MakeSeed()
		s.hash = func(k K) uint64 { return maphash.Comparable(seed, k) }
	}
	for i := range s.shards {
		c := &s.shards[i].c
		c.OnEvict = opts.OnEvict
		if opts.MaxEntries > 0 {
			c.MaxEntries = max(1, opts.MaxEntries/n)
		}
		if opts.MaxCost > 0 {
			c.MaxCost = max(1, opts.MaxCost/int64(n))
		}
	}
	return s
}

func (s *Sharded[K, V]) shardOf(key K) *shard[K, V] {
	h := s.hash(key)
	// Mix the high bits in: some hashes (identity-like ones supplied by
	// callers) vary mostly in their upper half.
	return &s.shards[(h^h>>32)&s.mask]
}

// Get returns the value stored under key and marks it recently used.
func (s *Sharded[K, V]) Get(key K) (V, bool) {
	sh := s.shardOf(key)
	sh.mu.Lock()
	v, ok := sh.c.Get(key)
	sh.mu.Unlock()
	return v, ok
}

// Add stores value under key with the given cost and reports whether it was
// stored (see [Cache.Add]).
func (s *Sharded[K, V]) Add(key K, value V, cost int64) bool {
	sh := s.shardOf(key)
	sh.mu.Lock()
	ok := sh.c.Add(key, value, cost)
	sh.mu.Unlock()
	return ok
}

// Remove deletes key and reports whether it was present.
func (s *Sharded[K, V]) Remove(key K) bool {
	sh := s.shardOf(key)
	sh.mu.Lock()
	ok := sh.c.Remove(key)
	sh.mu.Unlock()
	return ok
}

// Purge removes every entry.
func (s *Sharded[K, V]) Purge() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.c.Purge()
		sh.mu.Unlock()
	}
}

// Len returns the number of entries over all shards.
func (s *Sharded[K, V]) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.c.Len()
		sh.mu.Unlock()
	}
	return n
}

// Cost returns the sum of costs over all shards.
func (s *Sharded[K, V]) Cost() int64 {
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.c.Cost()
		sh.mu.Unlock()
	}
	return n
}

// Stats returns the counters summed over all shards.
func (s *Sharded[K, V]) Stats() Stats {
	var st Stats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		cs := sh.c.Stats()
		sh.mu.Unlock()
		st.Hits += cs.Hits
		st.Misses += cs.Misses
		st.Evictions += cs.Evictions
	}
	return st
}
