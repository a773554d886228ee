package lru

import "sync/atomic"

// seedInc hands every parallel goroutine a distinct seed.
func seedInc(p *uint64) uint64 { return atomic.AddUint64(p, 0x632be59bd9b4e019) }
