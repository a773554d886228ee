package lru

// Stats are the counters of a cache. They only grow, except after Purge,
// which leaves them alone too.
type Stats struct {
	Hits      uint64 // Get calls that found the key
	Misses    uint64 // Get calls that did not
	Evictions uint64 // entries removed to respect a limit
}

// EvictReason says why an entry left the cache.
type EvictReason int

const (
	// Evicted means a limit forced the entry out.
	Evicted EvictReason = iota
	// Removed means Remove or Purge dropped it.
	Removed
	// Replaced means Add stored a new value under the same key.
	Replaced
)

// sentinel is the index of the list head in the entry table, so real
// entries start at 1 and 0 doubles as "none" in the free list.
const sentinel = 0

// entry is one slot of the entry table. Entries are linked by index rather
// than by pointer so that a full cache allocates nothing per Add and the
// garbage collector sees one slice instead of a pointer per entry.
type entry[K comparable, V any] struct {
	key        K
	value      V
	cost       int64
	tick       uint64 // c.clock when the entry was last moved to the front
	prev, next int32
}

// Cache is a least-recently-used cache with optional entry and cost limits.
// Recency is exact for caches under 16 entries; above that, a Get of an
// entry already among the newest sixteenth does not move it (see Get), so
// the eviction order may differ from strict LRU only within that sixteenth.
//
// The zero value is an empty cache without limits. Set the exported fields
// before first use and do not change them afterwards. A Cache is not safe
// for concurrent use; see [Sharded] for that.
type Cache[K comparable, V any] struct {
	// MaxEntries is the largest number of entries kept; 0 means no limit.
	MaxEntries int
	// MaxCost is the largest sum of entry costs kept; 0 means no limit.
	MaxCost int64
	// OnEvict, when set, is called for every entry that leaves the cache.
	OnEvict func(key K, value V, reason EvictReason)

	index map[K]int32
	// ents[0] is the sentinel of the circular recency list: ents[0].next is
	// the most recently used entry, ents[0].prev the least.
	ents  []entry[K, V]
	free  int32  // head of the free list (linked through next), 0 if empty
	clock uint64 // number of moves to the front so far
	cost  int64
	stats Stats
}

func (c *Cache[K, V]) init() {
	if c.ents == nil {
		c.index = make(map[K]int32)
		c.ents = make([]entry[K, V], 1, 64)
	}
}

// Get returns the value stored under key and marks it most recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	i, ok := c.index[key]
	if !ok {
		c.stats.Misses++
		var zero V
		return zero, false
	}
	c.stats.Hits++
	// An entry moved to the front fewer than len/16 moves ago is still
	// among the newest sixteenth of the list; moving it again would only
	// touch two more cache lines. Skipping keeps hot reads cheap and
	// changes the eviction order only within that newest sixteenth, which
	// is never where victims come from. Below 16 entries the list is exact.
	if c.clock-c.ents[i].tick >= uint64(len(c.index)>>4) {
		c.moveToFront(i)
	}
	return c.ents[i].value, true
}

// Peek returns the value stored under key without touching its recency or
// the counters.
func (c *Cache[K, V]) Peek(key K) (V, bool) {
	i, ok := c.index[key]
	if !ok {
		var zero V
		return zero, false
	}
	return c.ents[i].value, true
}

// Add stores value under key with the given cost, replacing any earlier
// value, and evicts least recently used entries until the limits hold. It
// reports whether the value was stored: an entry whose cost alone exceeds
// MaxCost is not.
func (c *Cache[K, V]) Add(key K, value V, cost int64) bool {
	c.init()
	if cost < 0 {
		cost = 0
	}
	if i, ok := c.index[key]; ok {
		c.unlinkAndFree(i, Replaced)
	}
	if c.MaxCost > 0 && cost > c.MaxCost {
		return false
	}
	i := c.alloc()
	e := &c.ents[i]
	e.key, e.value, e.cost = key, value, cost
	c.index[key] = i
	c.cost += cost
	c.linkFront(i)
	for (c.MaxEntries > 0 && len(c.index) > c.MaxEntries) || (c.MaxCost > 0 && c.cost > c.MaxCost) {
		c.unlinkAndFree(c.ents[sentinel].prev, Evicted)
		c.stats.Evictions++
	}
	return true
}

// Remove deletes key and reports whether it was present.
func (c *Cache[K, V]) Remove(key K) bool {
	i, ok := c.index[key]
	if !ok {
		return false
	}
	c.unlinkAndFree(i, Removed)
	return true
}

// Purge removes every entry, calling OnEvict for each.
func (c *Cache[K, V]) Purge() {
	for len(c.index) > 0 {
		c.unlinkAndFree(c.ents[sentinel].prev, Removed)
	}
}

// Len returns the number of entries.
func (c *Cache[K, V]) Len() int { return len(c.index) }

// Cost returns the sum of the costs of all entries.
func (c *Cache[K, V]) Cost() int64 { return c.cost }

// Stats returns the hit, miss and eviction counters.
func (c *Cache[K, V]) Stats() Stats { return c.stats }

func (c *Cache[K, V]) alloc() int32 {
	if c.free != 0 {
		i := c.free
		c.free = c.ents[i].next
		return i
	}
	c.ents = append(c.ents, entry[K, V]{})
	return int32(len(c.ents) - 1)
}

func (c *Cache[K, V]) linkFront(i int32) {
	s := &c.ents[sentinel]
	e := &c.ents[i]
	c.clock++
	e.tick = c.clock
	e.prev = sentinel
	e.next = s.next
	c.ents[s.next].prev = i
	s.next = i
}

func (c *Cache[K, V]) unlink(i int32) {
	e := &c.ents[i]
	c.ents[e.prev].next = e.next
	c.ents[e.next].prev = e.prev
}

func (c *Cache[K, V]) moveToFront(i int32) {
	if c.ents[sentinel].next == i {
		return
	}
	c.unlink(i)
	c.linkFront(i)
}

// unlinkAndFree drops entry i from the list, the index and the cost, calls
// OnEvict and returns the slot to the free list.
func (c *Cache[K, V]) unlinkAndFree(i int32, reason EvictReason) {
	c.unlink(i)
	e := &c.ents[i]
	k, v := e.key, e.value
	delete(c.index, k)
	c.cost -= e.cost
	var zk K
	var zv V
	e.key, e.value, e.cost = zk, zv, 0
	e.next = c.free
	c.free = i
	if c.OnEvict != nil {
		c.OnEvict(k, v, reason)
	}
}
