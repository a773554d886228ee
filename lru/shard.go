package lru

import (
	"math/bits"
	"sync"
)

// shard is one independently locked part of a Sharded cache: a hash
// table of the entries, and the ring of entries that the CLOCK hand
// sweeps (see Sharded for the policy).
//
// The table is open addressing with linear probing, rather than a Go
// map, so that a hit costs one cache miss, not two: a slot holds the key,
// the value and the entry's node number together, where a map would hold
// an index to look up elsewhere. Deletion shifts later slots of the same
// run back instead of leaving tombstones, so that probes stay short
// however many entries come and go. The table doubles when half full and
// never shrinks.
//
// The ring is the node array itself: node i is position i, and the hand
// moves up the array and wraps. The marks the hand reads live in two
// bitmaps beside it, so that passing over a used entry touches a bit,
// not the entry: only the victim's node and slot are read.
type shard[K comparable, V any] struct {
	// mu guards every field of the shard. It is a plain mutex, not a
	// read-write one: on the hit path RLock, RUnlock and the atomic hit
	// counter they would need are three locked instructions against
	// Lock and Unlock's two, and with many shards two readers rarely
	// meet on one.
	mu     sync.Mutex
	hits   uint64
	misses uint64
	slots  []slot[K, V] // len is a power of two; node 0 marks an empty slot
	// Bit i%32 of word i/32 of used is set when entry i was read or
	// replaced since it was added or the hand last passed it; of live,
	// when node i holds an entry.
	used  []uint32
	live  []uint32
	nodes []node[K] // nodes[0] is unused, so that node 0 can mean none
	count int       // entries
	free  int32     // head of the free list of nodes (linked through next), 0 if empty
	hand  int32     // the next node the hand looks at
	cost  int64
	// evictions counts entries evicted to respect a limit.
	evictions  uint64
	maxEntries int
	maxCost    int64
	onEvict    func(key K, value V, reason EvictReason)
	_          [64]byte // keeps neighbouring shards' locks off each other's cache lines
}

// slot is one place of a shard's table.
type slot[K comparable, V any] struct {
	hash  uint32 // the key's hash within the shard
	node  int32  // the entry's node; 0 if the slot is empty
	key   K
	value V
}

// node is an entry's place on the ring.
type node[K comparable] struct {
	key  K
	cost int64
	hash uint32
	next int32 // next free node while on the free list
}

func (sh *shard[K, V]) init() {
	sh.slots = make([]slot[K, V], 8)
	sh.nodes = make([]node[K], 1, 8)
	sh.used = make([]uint32, 1)
	sh.live = make([]uint32, 1)
	sh.hand = 1
}

// get returns the value of key, whose hash is h, and marks it used.
// sh.mu must be held.
func (sh *shard[K, V]) get(h uint32, key K) (V, bool) {
	mask := uint32(len(sh.slots) - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		s := &sh.slots[p]
		if s.node == 0 {
			var zero V
			return zero, false
		}
		if s.hash == h && s.key == key {
			sh.used[s.node>>5] |= 1 << (s.node & 31)
			return s.value, true
		}
	}
}

// find returns the slot of key, whose hash is h. sh.mu must be held.
func (sh *shard[K, V]) find(h uint32, key K) (int, bool) {
	mask := uint32(len(sh.slots) - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		s := &sh.slots[p]
		if s.node == 0 {
			return 0, false
		}
		if s.hash == h && s.key == key {
			return int(p), true
		}
	}
}

// add is Sharded.Add on one shard. sh.mu must be held.
func (sh *shard[K, V]) add(h uint32, key K, value V, cost int64) bool {
	if cost < 0 {
		cost = 0
	}
	if pos, ok := sh.find(h, key); ok {
		if sh.maxCost > 0 && cost > sh.maxCost {
			sh.evict(sh.slots[pos].node, Replaced)
			return false
		}
		// Replace in place: the entry keeps its place on the ring and
		// counts as used.
		s := &sh.slots[pos]
		i := s.node
		old := s.value
		s.value = value
		n := &sh.nodes[i]
		sh.cost += cost - n.cost
		n.cost = cost
		sh.used[i>>5] |= 1 << (i & 31)
		if sh.onEvict != nil {
			sh.onEvict(key, old, Replaced)
		}
		for sh.maxCost > 0 && sh.cost > sh.maxCost {
			sh.evictOne(i)
		}
		return true
	}
	if sh.maxCost > 0 && cost > sh.maxCost {
		return false
	}
	// Make room first, so that the new entry cannot be the victim. It
	// then takes over the victim's node, which the hand has just passed
	// and so reaches last.
	for (sh.maxEntries > 0 && sh.count >= sh.maxEntries) || (sh.maxCost > 0 && sh.cost > sh.maxCost-cost) {
		sh.evictOne(0)
	}
	if 2*(sh.count+1) > len(sh.slots) {
		sh.grow()
	}
	i := sh.allocNode()
	sh.nodes[i] = node[K]{key: key, cost: cost, hash: h}
	sh.live[i>>5] |= 1 << (i & 31)
	sh.insert(slot[K, V]{hash: h, node: i, key: key, value: value})
	sh.count++
	sh.cost += cost
	return true
}

// insert puts s in the first free slot of its run. The table must have a
// free slot.
func (sh *shard[K, V]) insert(s slot[K, V]) {
	mask := uint32(len(sh.slots) - 1)
	p := s.hash & mask
	for sh.slots[p].node != 0 {
		p = (p + 1) & mask
	}
	sh.slots[p] = s
}

// grow doubles the table.
func (sh *shard[K, V]) grow() {
	old := sh.slots
	sh.slots = make([]slot[K, V], 2*len(old))
	for _, s := range old {
		if s.node != 0 {
			sh.insert(s)
		}
	}
}

// deleteSlot empties slot p and moves later slots of its run back, so
// that every entry stays reachable from its home slot without a gap.
func (sh *shard[K, V]) deleteSlot(p uint32) {
	mask := uint32(len(sh.slots) - 1)
	for q := (p + 1) & mask; sh.slots[q].node != 0; q = (q + 1) & mask {
		// The entry at q may move to p if its home slot is not in the
		// cyclic range (p, q]: then p lies on its probe path.
		home := sh.slots[q].hash & mask
		if (q-home)&mask >= (q-p)&mask {
			sh.slots[p] = sh.slots[q]
			p = q
		}
	}
	sh.slots[p] = slot[K, V]{}
}

// evictOne moves the hand on to the first entry not used since the hand
// last passed it, clearing the marks of the used ones on the way, and
// evicts it. Entry keep (0 for none), one just replaced, is passed over
// even when unmarked. The shard holds at least one entry besides keep,
// because no single entry breaks a limit alone, so the hand finds a
// victim within two turns. sh.mu must be held.
func (sh *shard[K, V]) evictOne(keep int32) {
	n := int32(len(sh.nodes))
	for {
		if sh.hand >= n {
			sh.hand = 1
		}
		i := sh.hand
		sh.hand++
		w, bit := i>>5, uint32(1)<<(i&31)
		switch {
		case sh.live[w]&bit == 0:
		case sh.used[w]&bit != 0:
			sh.used[w] &^= bit
		case i != keep:
			sh.evict(i, Evicted)
			sh.evictions++
			return
		}
	}
}

// evict removes entry i from the table, the ring and the cost, returns
// its node to the free list and calls OnEvict. sh.mu must be held.
func (sh *shard[K, V]) evict(i int32, reason EvictReason) {
	n := &sh.nodes[i]
	k := n.key
	pos, _ := sh.find(n.hash, k)
	v := sh.slots[pos].value
	sh.deleteSlot(uint32(pos))
	sh.count--
	sh.cost -= n.cost
	*n = node[K]{next: sh.free}
	sh.free = i
	sh.live[i>>5] &^= 1 << (i & 31)
	sh.used[i>>5] &^= 1 << (i & 31)
	if sh.onEvict != nil {
		sh.onEvict(k, v, reason)
	}
}

// purge removes every entry and resets the ring, so that the hand does
// not sweep over the nodes of a cache that was once larger.
func (sh *shard[K, V]) purge() {
	for w, word := range sh.live {
		for word != 0 {
			b := bits.TrailingZeros32(word)
			word &^= 1 << b
			sh.evict(int32(32*w+b), Removed)
		}
	}
	clear(sh.nodes)
	sh.nodes = sh.nodes[:1]
	sh.free = 0
	sh.hand = 1
}

func (sh *shard[K, V]) allocNode() int32 {
	if sh.free != 0 {
		i := sh.free
		sh.free = sh.nodes[i].next
		return i
	}
	sh.nodes = append(sh.nodes, node[K]{})
	i := int32(len(sh.nodes) - 1)
	if int(i>>5) >= len(sh.used) {
		sh.used = append(sh.used, 0)
		sh.live = append(sh.live, 0)
	}
	return i
}
