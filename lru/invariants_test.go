package lru

import (
	"math/rand/v2"
	"testing"
)

// checkShard verifies a shard's internal invariants: every live node is
// findable, every slot's node is live and names the slot's key, and the
// count and cost match.
func checkShard[K comparable, V any](t *testing.T, sh *shard[K, V]) {
	t.Helper()
	count, cost := 0, int64(0)
	for i := int32(1); i < int32(len(sh.nodes)); i++ {
		if sh.live[i>>5]&(1<<(i&31)) == 0 {
			continue
		}
		count++
		n := sh.nodes[i]
		cost += n.cost
		p, ok := sh.find(n.hash, n.key)
		if !ok || sh.slots[p].node != i {
			t.Fatalf("live node %d not findable", i)
		}
	}
	slots := 0
	for _, s := range sh.slots {
		if s.node != 0 {
			slots++
			if sh.live[s.node>>5]&(1<<(s.node&31)) == 0 || sh.nodes[s.node].key != s.key {
				t.Fatalf("slot names dead or foreign node %d", s.node)
			}
		}
	}
	if count != sh.count || slots != count || cost != sh.cost {
		t.Fatalf("count %d/%d slots %d cost %d/%d", count, sh.count, slots, cost, sh.cost)
	}
	if sh.maxEntries > 0 && sh.count > sh.maxEntries || sh.maxCost > 0 && sh.cost > sh.maxCost {
		t.Fatalf("limits broken: count %d cost %d", sh.count, sh.cost)
	}
}

// TestShardedInvariants drives one-shard caches with random adds,
// replaces, removes, gets and purges and checks invariants and that every
// stored value leaves through OnEvict exactly once.
func TestShardedInvariants(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 1))
		inCache := map[int]int{} // key -> value id
		var bad string
		c := NewSharded(ShardedOptions[int, int]{
			Shards: 1, MaxEntries: int(r.IntN(20)), MaxCost: int64(r.IntN(60)),
			OnEvict: func(k, v int, _ EvictReason) {
				if inCache[k] != v {
					bad = "evicted value not current"
				}
				delete(inCache, k)
			},
			Hash: func(k int) uint64 { return uint64(k % 7) }, // collisions
		})
		sh := &c.shards[0]
		id := 0
		for range 3000 {
			k := r.IntN(40)
			switch op := r.IntN(10); {
			case op < 6:
				id++
				cost := int64(r.IntN(12))
				if c.Add(k, id, cost) {
					inCache[k] = id
				}
			case op < 8:
				v, ok := c.Get(k)
				if w, in := inCache[k]; ok != in || ok && v != w {
					t.Fatalf("seed %d: Get(%d) = %d,%v want %d,%v", seed, k, v, ok, w, in)
				}
			case op < 9:
				c.Remove(k)
			default:
				if r.IntN(20) == 0 {
					c.Purge()
				}
			}
			if bad != "" {
				t.Fatalf("seed %d: %s", seed, bad)
			}
			checkShard(t, sh)
			if sh.count != len(inCache) {
				t.Fatalf("seed %d: count %d, model %d", seed, sh.count, len(inCache))
			}
		}
	}
}
