package lru_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"amaters-server/lru"
)

type evictRec struct {
	key    string
	reason lru.EvictReason
}

func TestCacheLimits(t *testing.T) {
	type op struct {
		add  string
		cost int64
		get  string
	}
	tests := []struct {
		name       string
		maxEntries int
		maxCost    int64
		ops        []op
		wantKeys   []string // most recent first
		wantEvict  []evictRec
		wantCost   int64
	}{
		{
			name: "unlimited", ops: []op{{add: "a", cost: 1}, {add: "b", cost: 2}},
			wantKeys: []string{"b", "a"}, wantCost: 3,
		},
		{
			name: "entry limit evicts oldest", maxEntries: 2,
			ops:       []op{{add: "a"}, {add: "b"}, {add: "c"}},
			wantKeys:  []string{"c", "b"},
			wantEvict: []evictRec{{"a", lru.Evicted}},
		},
		{
			name: "get refreshes recency", maxEntries: 2,
			ops:       []op{{add: "a"}, {add: "b"}, {get: "a"}, {add: "c"}},
			wantKeys:  []string{"c", "a"},
			wantEvict: []evictRec{{"b", lru.Evicted}},
		},
		{
			name: "cost limit evicts several", maxCost: 10,
			ops:       []op{{add: "a", cost: 4}, {add: "b", cost: 4}, {add: "c", cost: 9}},
			wantKeys:  []string{"c"},
			wantEvict: []evictRec{{"a", lru.Evicted}, {"b", lru.Evicted}},
			wantCost:  9,
		},
		{
			name: "too costly is not stored", maxCost: 10,
			ops:      []op{{add: "a", cost: 4}, {add: "big", cost: 11}},
			wantKeys: []string{"a"}, wantCost: 4,
		},
		{
			name: "replace adjusts cost", maxCost: 10,
			ops:       []op{{add: "a", cost: 4}, {add: "a", cost: 6}},
			wantKeys:  []string{"a"},
			wantEvict: []evictRec{{"a", lru.Replaced}},
			wantCost:  6,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []evictRec
			c := lru.Cache[string, int]{MaxEntries: tc.maxEntries, MaxCost: tc.maxCost,
				OnEvict: func(k string, _ int, r lru.EvictReason) { got = append(got, evictRec{k, r}) }}
			for _, o := range tc.ops {
				if o.add != "" {
					c.Add(o.add, 1, o.cost)
				} else {
					c.Get(o.get)
				}
			}
			if !slices.Equal(got, tc.wantEvict) {
				t.Errorf("evictions = %v, want %v", got, tc.wantEvict)
			}
			if c.Len() != len(tc.wantKeys) {
				t.Fatalf("Len = %d, want %d", c.Len(), len(tc.wantKeys))
			}
			for _, k := range tc.wantKeys {
				if _, ok := c.Peek(k); !ok {
					t.Errorf("key %q missing", k)
				}
			}
			if c.Cost() != tc.wantCost {
				t.Errorf("Cost = %d, want %d", c.Cost(), tc.wantCost)
			}
		})
	}
}

func TestCacheStats(t *testing.T) {
	var c lru.Cache[int, int]
	c.MaxEntries = 1
	c.Add(1, 1, 0)
	c.Get(1)
	c.Get(2)
	c.Add(2, 2, 0)
	want := lru.Stats{Hits: 1, Misses: 1, Evictions: 1}
	if got := c.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// TestCacheModel checks a Cache against a naive slice-based LRU.
func TestCacheModel(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		c := lru.Cache[int, int]{MaxEntries: 1 + rng.IntN(20)}
		var model []int // keys, most recent last
		vals := map[int]int{}
		for i := range 2000 {
			k := rng.IntN(40)
			switch rng.IntN(3) {
			case 0:
				c.Add(k, i, 1)
				model = slices.DeleteFunc(model, func(x int) bool { return x == k })
				model = append(model, k)
				vals[k] = i
				if len(model) > c.MaxEntries {
					delete(vals, model[0])
					model = model[1:]
				}
			case 1:
				v, ok := c.Get(k)
				mv, mok := vals[k]
				if ok != mok || v != mv {
					t.Fatalf("seed %d step %d: Get(%d) = %d,%v want %d,%v", seed, i, k, v, ok, mv, mok)
				}
				if ok {
					model = slices.DeleteFunc(model, func(x int) bool { return x == k })
					model = append(model, k)
				}
			case 2:
				ok := c.Remove(k)
				_, mok := vals[k]
				if ok != mok {
					t.Fatalf("seed %d step %d: Remove(%d) = %v want %v", seed, i, k, ok, mok)
				}
				delete(vals, k)
				model = slices.DeleteFunc(model, func(x int) bool { return x == k })
			}
			if c.Len() != len(model) {
				t.Fatalf("seed %d step %d: Len = %d want %d", seed, i, c.Len(), len(model))
			}
		}
	}
}

func TestCachePurge(t *testing.T) {
	n := 0
	c := lru.Cache[int, int]{OnEvict: func(int, int, lru.EvictReason) { n++ }}
	for i := range 10 {
		c.Add(i, i, 1)
	}
	c.Purge()
	if c.Len() != 0 || c.Cost() != 0 || n != 10 {
		t.Errorf("after Purge: Len %d Cost %d callbacks %d", c.Len(), c.Cost(), n)
	}
	c.Add(1, 1, 1)
	if v, ok := c.Get(1); !ok || v != 1 {
		t.Errorf("Get after Purge = %d, %v", v, ok)
	}
}

func TestShardedLimits(t *testing.T) {
	s := lru.NewSharded(lru.ShardedOptions[int, int]{MaxEntries: 64, Shards: 4})
	for i := range 1000 {
		s.Add(i, i, 1)
	}
	if n := s.Len(); n > 64 {
		t.Errorf("Len = %d, want <= 64", n)
	}
	st := s.Stats()
	if st.Evictions != uint64(1000-s.Len()) {
		t.Errorf("Evictions = %d, want %d", st.Evictions, 1000-s.Len())
	}
	if v, ok := s.Get(999); !ok || v != 999 {
		t.Errorf("Get(999) = %d, %v", v, ok)
	}
	if !s.Remove(999) || s.Remove(999) {
		t.Error("Remove did not report presence correctly")
	}
	s.Purge()
	if s.Len() != 0 || s.Cost() != 0 {
		t.Errorf("after Purge Len %d Cost %d", s.Len(), s.Cost())
	}
}

func TestShardedConcurrent(t *testing.T) {
	var mu sync.Mutex
	evicted := 0
	s := lru.NewSharded(lru.ShardedOptions[string, []byte]{MaxCost: 1 << 12,
		OnEvict: func(string, []byte, lru.EvictReason) { mu.Lock(); evicted++; mu.Unlock() }})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for range 5000 {
				k := fmt.Sprint(rng.IntN(500))
				if rng.IntN(10) == 0 {
					s.Add(k, []byte(k), int64(len(k)))
				} else if v, ok := s.Get(k); ok && string(v) != k {
					t.Errorf("Get(%q) = %q", k, v)
				}
			}
		}()
	}
	wg.Wait()
	if s.Cost() > 1<<12 {
		t.Errorf("Cost %d over budget", s.Cost())
	}
}

func BenchmarkShardedParallel(b *testing.B) {
	const n = 1 << 16
	s := lru.NewSharded(lru.ShardedOptions[int, int]{MaxEntries: n})
	for i := range n {
		s.Add(i, i, 1)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
		for pb.Next() {
			k := rng.IntN(2 * n)
			if rng.IntN(10) == 0 {
				s.Add(k, k, 1)
			} else {
				s.Get(k)
			}
		}
	})
}

func BenchmarkCacheGet(b *testing.B) {
	var c lru.Cache[int, int]
	for i := range 1024 {
		c.Add(i, i, 1)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Get(i & 1023)
		i++
	}
}

// TestShardedSecondChance checks the CLOCK order of one shard: a read
// entry survives the next eviction, then goes like any other.
func TestShardedSecondChance(t *testing.T) {
	var evicted []int
	s := lru.NewSharded(lru.ShardedOptions[int, int]{MaxEntries: 2, Shards: 1,
		OnEvict: func(k, _ int, r lru.EvictReason) {
			if r == lru.Evicted {
				evicted = append(evicted, k)
			}
		}})
	s.Add(1, 1, 1)
	s.Add(2, 2, 1)
	s.Get(1)       // 1 gets a second chance
	s.Add(3, 3, 1) // evicts 2, the oldest unread entry
	s.Add(4, 4, 1) // evicts 1: its mark was spent
	s.Add(5, 5, 1) // evicts 3
	if want := []int{2, 1, 3}; !slices.Equal(evicted, want) {
		t.Errorf("evicted %v, want %v", evicted, want)
	}
	if _, ok := s.Get(4); !ok {
		t.Error("4 missing")
	}
}

// TestShardedModel runs random operations against a map kept in step
// through the eviction callback: every Get must return exactly what the
// map holds, and the limits must hold. Constant and two-valued hashes
// force every key of a shard into one probe run.
func TestShardedModel(t *testing.T) {
	tests := []struct {
		name string
		opts lru.ShardedOptions[int, int]
	}{
		{"entries", lru.ShardedOptions[int, int]{MaxEntries: 64, Shards: 4}},
		{"cost", lru.ShardedOptions[int, int]{MaxCost: 200, Shards: 2}},
		{"unlimited", lru.ShardedOptions[int, int]{Shards: 1}},
		{"collisions", lru.ShardedOptions[int, int]{MaxEntries: 50, Shards: 1,
			Hash: func(int) uint64 { return 7 }}},
		{"two runs", lru.ShardedOptions[int, int]{MaxCost: 300, Shards: 1,
			Hash: func(k int) uint64 { return uint64(k & 1) }}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(5) {
				rng := rand.New(rand.NewPCG(seed, 4))
				model := map[int]int{}
				costs := map[int]int64{}
				opts := tc.opts
				opts.OnEvict = func(k, v int, r lru.EvictReason) {
					if model[k] != v {
						t.Fatalf("OnEvict(%d, %d) but the value is %d", k, v, model[k])
					}
					if r != lru.Replaced {
						delete(model, k)
						delete(costs, k)
					}
				}
				s := lru.NewSharded(opts)
				for i := range 5000 {
					k := rng.IntN(150)
					switch op := rng.IntN(10); {
					case op < 4:
						cost := int64(rng.IntN(20))
						if s.Add(k, i, cost) {
							model[k], costs[k] = i, cost
							// No entry is evicted to make room for itself.
							if v, ok := s.Get(k); !ok || v != i {
								t.Fatalf("step %d: Get(%d) right after Add = %d,%v", i, k, v, ok)
							}
						} else if _, ok := model[k]; ok {
							t.Fatalf("step %d: refused Add(%d) left the old value", i, k)
						}
					case op < 5:
						_, had := model[k]
						if got := s.Remove(k); got != had {
							t.Fatalf("step %d: Remove(%d) = %v, want %v", i, k, got, had)
						}
					default:
						v, ok := s.Get(k)
						mv, mok := model[k]
						if ok != mok || v != mv {
							t.Fatalf("step %d: Get(%d) = %d,%v want %d,%v", i, k, v, ok, mv, mok)
						}
					}
					var cost int64
					for _, c := range costs {
						cost += c
					}
					if s.Len() != len(model) || s.Cost() != cost {
						t.Fatalf("step %d: Len %d Cost %d, want %d %d", i, s.Len(), s.Cost(), len(model), cost)
					}
					if opts.MaxEntries > 0 && s.Len() > opts.MaxEntries {
						t.Fatalf("step %d: Len %d over %d", i, s.Len(), opts.MaxEntries)
					}
					if opts.MaxCost > 0 && s.Cost() > opts.MaxCost {
						t.Fatalf("step %d: Cost %d over %d", i, s.Cost(), opts.MaxCost)
					}
				}
				s.Purge()
				if len(model) != 0 || s.Len() != 0 {
					t.Fatalf("after Purge: model %d entries, Len %d", len(model), s.Len())
				}
			}
		})
	}
}
