package lru

import (
	"math/rand/v2"
	"testing"
)

// TestShardWrapAround drives one small shard whose keys all live at the
// end of its 8-slot table, so that probe runs wrap past the last slot and
// deletions shift entries back across it. The eviction callback keeps a
// model map in step; every lookup must agree with it.
func TestShardWrapAround(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 5))
		model := map[int]int{}
		var sh shard[int, int]
		sh.init()
		sh.maxEntries = 3
		sh.onEvict = func(k, _ int, r EvictReason) {
			if r != Replaced {
				delete(model, k)
			}
		}
		hash := func(k int) uint32 { return uint32(6 + k%3) } // homes 6, 7 and 0
		for i := range 500 {
			k := rng.IntN(9)
			switch rng.IntN(3) {
			case 0:
				sh.add(hash(k), k, i, 1)
				model[k] = i
			case 1:
				if pos, ok := sh.find(hash(k), k); ok {
					sh.evict(sh.slots[pos].node, Removed)
				}
			default:
				v, ok := sh.get(hash(k), k)
				if mv, mok := model[k]; ok != mok || v != mv {
					t.Fatalf("seed %d step %d: get(%d) = %d,%v want %d,%v", seed, i, k, v, ok, mv, mok)
				}
			}
			if len(sh.slots) != 8 {
				t.Fatalf("table grew to %d slots", len(sh.slots))
			}
			if sh.count != len(model) {
				t.Fatalf("seed %d step %d: count %d, model %d", seed, i, sh.count, len(model))
			}
		}
	}
}
