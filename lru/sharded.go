package lru

import "hash/maphash"

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

// Sharded is a cache split into shards by a hash of the key, each with
// its own lock, limits and eviction order. It is safe for concurrent use.
// Create it with [NewSharded]; the zero value is not usable.
//
// Each shard approximates least-recently-used order with the CLOCK
// (second chance) policy, so that a Get only looks the key up and sets
// the entry's used mark, without reordering anything. The entries of a
// shard sit on a ring, and a hand sweeps it when a limit forces an
// eviction: a marked entry has its mark cleared and is passed over (its
// second chance), and the first unmarked one is evicted. A new entry
// starts unmarked, normally in the place of the entry just evicted, which
// the hand reaches last; reading it or replacing its value with Add marks
// it. So an entry used since the hand last passed it outlives one that
// was not, as under LRU, but how recently, or how often, does not count
// beyond that one mark. An entry is never evicted to make room for
// itself. The policy is per shard, so the entry evicted is chosen within
// the new entry's shard, which approximates a global order well when
// keys hash evenly.
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
		sh := &s.shards[i]
		sh.onEvict = opts.OnEvict
		if opts.MaxEntries > 0 {
			sh.maxEntries = max(1, opts.MaxEntries/n)
		}
		if opts.MaxCost > 0 {
			sh.maxCost = max(1, opts.MaxCost/int64(n))
		}
		sh.init()
	}
	return s
}

// locate returns key's shard and its hash within the shard.
func (s *Sharded[K, V]) locate(key K) (*shard[K, V], uint32) {
	// Mix first: hashes supplied by callers may be weak in some bits.
	h := s.hash(key) * 0xbf58476d1ce4e5b9
	h ^= h >> 31
	return &s.shards[h&s.mask], uint32(h >> 32)
}

// Get returns the value stored under key and marks it used.
func (s *Sharded[K, V]) Get(key K) (V, bool) {
	sh, h := s.locate(key)
	sh.mu.Lock()
	v, ok := sh.get(h, key)
	if ok {
		sh.hits++
	} else {
		sh.misses++
	}
	sh.mu.Unlock()
	return v, ok
}

// Add stores value under key with the given cost, replacing any earlier
// value, and evicts entries of the key's shard until its limits hold. It
// reports whether the value was stored: an entry whose cost alone exceeds
// the shard's cost budget is not.
func (s *Sharded[K, V]) Add(key K, value V, cost int64) bool {
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.add(h, key, value, cost)
}

// Remove deletes key and reports whether it was present.
func (s *Sharded[K, V]) Remove(key K) bool {
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	pos, ok := sh.find(h, key)
	if ok {
		sh.evict(sh.slots[pos].node, Removed)
	}
	return ok
}

// Purge removes every entry.
func (s *Sharded[K, V]) Purge() {
	s.eachLocked(func(sh *shard[K, V]) { sh.purge() })
}

// Len returns the number of entries over all shards.
func (s *Sharded[K, V]) Len() int {
	n := 0
	s.eachLocked(func(sh *shard[K, V]) { n += sh.count })
	return n
}

// Cost returns the sum of costs over all shards.
func (s *Sharded[K, V]) Cost() int64 {
	var n int64
	s.eachLocked(func(sh *shard[K, V]) { n += sh.cost })
	return n
}

// Stats returns the counters summed over all shards.
func (s *Sharded[K, V]) Stats() Stats {
	var st Stats
	s.eachLocked(func(sh *shard[K, V]) {
		st.Evictions += sh.evictions
		st.Hits += sh.hits
		st.Misses += sh.misses
	})
	return st
}

// eachLocked calls fn for every shard in turn, with that shard locked.
func (s *Sharded[K, V]) eachLocked(fn func(*shard[K, V])) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		fn(sh)
		sh.mu.Unlock()
	}
}
