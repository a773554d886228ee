// Package lru provides a generic least-recently-used cache with an entry
// limit, a cost (byte) budget, hit/miss/eviction counters and an eviction
// callback.
//
// Two types are offered:
//
//   - [Cache] is a single LRU list. It is not safe for concurrent use; its
//     zero value is an empty cache with no limits.
//   - [Sharded] spreads keys over independently locked shards by a hash
//     of the key. It is safe for concurrent use and is what the storage
//     engine's block cache and the server's query cache use, because every
//     parallel read touches them. To keep a hit cheap it tracks recency
//     approximately, with the CLOCK (second chance) policy: a Get only
//     marks the entry used, and an eviction passes over (once) the
//     entries marked since it last came by. See [Sharded] for the exact
//     order.
//
// # Costs
//
// Every entry carries a cost chosen by the caller (usually its size in
// bytes). When the sum of costs exceeds the cost budget, or the number of
// entries exceeds the entry limit, the least recently used entries are
// evicted until both limits hold again. An entry whose cost alone exceeds
// the budget is not stored at all.
//
// # Eviction callback
//
// The callback runs synchronously, with the shard locked, for every entry
// that leaves the cache because of a limit, a Remove, a replacement by Add
// or a Purge. It must not call back into the cache.
package lru
