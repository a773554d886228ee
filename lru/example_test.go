package lru_test

import (
	"fmt"

	"amaters-server/lru"
)

func ExampleCache() {
	c := lru.Cache[string, string]{
		MaxCost: 10,
		OnEvict: func(k, _ string, _ lru.EvictReason) { fmt.Println("evicted", k) },
	}
	c.Add("a", "apple", 5)
	c.Add("b", "banana", 5)
	c.Get("a") // a is now the most recently used
	c.Add("c", "cherry", 5)
	_, ok := c.Get("b")
	fmt.Println("b present:", ok, "cost:", c.Cost())
	// Output:
	// evicted b
	// b present: false cost: 10
}

func ExampleSharded() {
	s := lru.NewSharded(lru.ShardedOptions[int, string]{MaxEntries: 1024})
	s.Add(1, "one", 3)
	v, ok := s.Get(1)
	fmt.Println(v, ok, s.Stats().Hits)
	// Output: one true 1
}
