package lru

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
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

// Sharded is a cache split into shards by a hash of the key, each with
// its own lock, limits and eviction order. It is safe for concurrent use.
// Create it with [NewSharded]; the zero value is not usable.
//
// Each shard approximates least-recently-used order with the CLOCK
// (second chance) policy, so that a Get is a read: it looks the key up
// under a shared lock and sets the entry's used mark, without relinking
// any list. Entries are kept in insertion order. When a limit forces an
// eviction, the shard looks at its oldest entry: if it was used since it
// was added or last looked at, its mark is cleared and it moves to the
// front as if just added (its second chance); otherwise it is evicted.
// So an entry read since the last pass survives an entry that was not,
// as under LRU, but among entries both read, or both not, the older goes
// first, whatever the order of the reads. An entry is never evicted to
// make room for itself. The policy is per shard, so the entry evicted is
// chosen within the new entry's shard, which approximates a global order
// well when keys hash evenly.
type Sharded[K comparable, V any] struct {
	shards []shard[K, V]
	mask   uint64
	hash   func(K) uint64
}

// shard is one independently locked part of a Sharded cache. Its list,
// costs and limits work like those of a Cache; see Sharded for the
// eviction order.
type shard[K comparable, V any] struct {
	// mu guards index, ents, used's length, free, cost and evictions.
	// Get holds it shared and touches only hits, misses and elements of
	// used, all atomic.
	mu    sync.RWMutex
	index map[K]slot[V]
	// ents[0] is the sentinel of the circular list in insertion order:
	// ents[0].next is the newest entry, ents[0].prev the oldest.
	ents []node[K]
	// used[i] is 1 when entry i was read since it was added or last
	// passed over by eviction. It is parallel to ents but separate, so
	// that the marks of a shard share a few cache lines.
	used       []atomic.Uint32
	free       int32 // head of the free list (linked through next), 0 if empty
	cost       int64
	evictions  uint64
	hits       atomic.Uint64
	misses     atomic.Uint64
	maxEntries int
	maxCost    int64
	onEvict    func(key K, value V, reason EvictReason)
	_          [64]byte // keeps neighbouring shards off each other's cache lines
}

// slot is an index entry: the value sits in the map next to its key, so
// that a hit reads one place.
type slot[V any] struct {
	value V
	i     int32
}

// node is an entry's place in its shard's list.
type node[K comparable] struct {
	key        K
	cost       int64
	prev, next int32
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
		sh.index = make(map[K]slot[V])
		sh.ents = make([]node[K], 1, 16)
		sh.used = make([]atomic.Uint32, 1, 16)
	}
	return s
}

func (s *Sharded[K, V]) shardOf(key K) *shard[K, V] {
	h := s.hash(key)
	// Mix the high bits in: some hashes (identity-like ones supplied by
	// callers) vary mostly in their upper half.
	return &s.shards[(h^h>>32)&s.mask]
}

// Get returns the value stored under key and marks it used.
func (s *Sharded[K, V]) Get(key K) (V, bool) {
	sh := s.shardOf(key)
	sh.mu.RLock()
	sl, ok := sh.index[key]
	if ok {
		// Test before setting: a hot entry's mark is already set, and a
		// store would dirty a cache line the other cores read.
		if u := &sh.used[sl.i]; u.Load() == 0 {
			u.Store(1)
		}
	}
	sh.mu.RUnlock()
	if ok {
		sh.hits.Add(1)
	} else {
		sh.misses.Add(1)
	}
	return sl.value, ok
}

// Add stores value under key with the given cost, replacing any earlier
// value, and evicts entries of the key's shard until its limits hold. It
// reports whether the value was stored: an entry whose cost alone exceeds
// the shard's cost budget is not.
func (s *Sharded[K, V]) Add(key K, value V, cost int64) bool {
	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.add(key, value, cost)
}

// Remove deletes key and reports whether it was present.
func (s *Sharded[K, V]) Remove(key K) bool {
	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sl, ok := sh.index[key]
	if ok {
		sh.unlinkAndFree(sl.i, Removed)
	}
	return ok
}

// Purge removes every entry.
func (s *Sharded[K, V]) Purge() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for len(sh.index) > 0 {
			sh.unlinkAndFree(sh.ents[sentinel].prev, Removed)
		}
		sh.mu.Unlock()
	}
}

// Len returns the number of entries over all shards.
func (s *Sharded[K, V]) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.index)
		sh.mu.RUnlock()
	}
	return n
}

// Cost returns the sum of costs over all shards.
func (s *Sharded[K, V]) Cost() int64 {
	var n int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += sh.cost
		sh.mu.RUnlock()
	}
	return n
}

// Stats returns the counters summed over all shards.
func (s *Sharded[K, V]) Stats() Stats {
	var st Stats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		st.Evictions += sh.evictions
		sh.mu.RUnlock()
		st.Hits += sh.hits.Load()
		st.Misses += sh.misses.Load()
	}
	return st
}

// add is Sharded.Add on one shard. sh.mu must be held.
func (sh *shard[K, V]) add(key K, value V, cost int64) bool {
	if cost < 0 {
		cost = 0
	}
	if sl, ok := sh.index[key]; ok {
		sh.unlinkAndFree(sl.i, Replaced)
	}
	if sh.maxCost > 0 && cost > sh.maxCost {
		return false
	}
	i := sh.alloc()
	sh.ents[i].key, sh.ents[i].cost = key, cost
	sh.used[i].Store(0)
	sh.index[key] = slot[V]{value: value, i: i}
	sh.cost += cost
	sh.linkFront(i)
	for (sh.maxEntries > 0 && len(sh.index) > sh.maxEntries) || (sh.maxCost > 0 && sh.cost > sh.maxCost) {
		sh.evictOne(i)
	}
	return true
}

// evictOne evicts the oldest entry not used since it was added or last
// passed over, giving the used ones passed over a second chance. Entry
// keep, the one being added, is passed over too. The shard holds at least
// one entry besides keep, because no single entry breaks a limit alone,
// so the loop ends within one pass. sh.mu must be held.
func (sh *shard[K, V]) evictOne(keep int32) {
	for {
		i := sh.ents[sentinel].prev
		if i == keep || sh.used[i].Load() != 0 {
			sh.used[i].Store(0)
			sh.unlink(i)
			sh.linkFront(i)
			continue
		}
		sh.unlinkAndFree(i, Evicted)
		sh.evictions++
		return
	}
}

func (sh *shard[K, V]) alloc() int32 {
	if sh.free != 0 {
		i := sh.free
		sh.free = sh.ents[i].next
		return i
	}
	sh.ents = append(sh.ents, node[K]{})
	if len(sh.used) < cap(sh.used) {
		sh.used = sh.used[:len(sh.used)+1]
	} else {
		// atomic.Uint32 must not be copied by append; copy the values.
		used := make([]atomic.Uint32, len(sh.used)+1, 2*cap(sh.used))
		for j := range sh.used {
			used[j].Store(sh.used[j].Load())
		}
		sh.used = used
	}
	return int32(len(sh.ents) - 1)
}

func (sh *shard[K, V]) linkFront(i int32) {
	s := &sh.ents[sentinel]
	e := &sh.ents[i]
	e.prev = sentinel
	e.next = s.next
	sh.ents[s.next].prev = i
	s.next = i
}

func (sh *shard[K, V]) unlink(i int32) {
	e := &sh.ents[i]
	sh.ents[e.prev].next = e.next
	sh.ents[e.next].prev = e.prev
}

// unlinkAndFree drops entry i from the list, the index and the cost, calls
// OnEvict and returns the slot to the free list. sh.mu must be held.
func (sh *shard[K, V]) unlinkAndFree(i int32, reason EvictReason) {
	sh.unlink(i)
	e := &sh.ents[i]
	k := e.key
	v := sh.index[k].value
	delete(sh.index, k)
	sh.cost -= e.cost
	var zk K
	e.key, e.cost = zk, 0
	e.next = sh.free
	sh.free = i
	if sh.onEvict != nil {
		sh.onEvict(k, v, reason)
	}
}
