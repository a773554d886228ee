package server

import (
	"bytes"
	"math/rand/v2"
	"sync"
)

// engine is the byte-level ordered key-value store under the server. Keys
// reaching it already carry their collection prefix (see store.go), so an
// engine knows nothing of collections. Implementations are safe for
// concurrent use.
type engine interface {
	// Get returns the value of key, or errNotFound. The returned slice is
	// the caller's.
	Get(key []byte) ([]byte, error)
	// Apply applies every op or none, and returns once the batch is
	// durable as the engine's sync mode promises.
	Apply(ops []op) error
	// Scan calls fn for each key in [lo, hi) in ascending order (hi == nil
	// means unbounded) until fn returns false. Every call sees one
	// consistent point in time; fn must not call back into the engine and
	// must copy what it keeps.
	Scan(lo, hi []byte, fn func(key, value []byte) bool) error
	// Flush makes everything applied so far durable in the engine's
	// long-term form (for an LSM: memtable to SSTable).
	Flush() error
	// Close flushes, syncs and releases the engine; later calls fail.
	Close() error
	// Stats reports sizes and counters for /metrics and /health.
	Stats() engineStats
}

// op is one write of a batch.
type op struct {
	del   bool
	key   []byte
	value []byte // never nil for a set: an empty value is a value
}

// engineStats is what an engine reports to the metrics; fields an engine
// does not have stay zero.
type engineStats struct {
	SizeBytes   int64
	Flushes     uint64
	Compactions uint64
	WALSyncs    uint64
	Levels      []levelStats
}

type levelStats struct {
	Files int64
	Bytes int64
}

// memEngine is the in-memory engine of storage.engine = "memory": a skip
// list under one RWMutex. Readers share the lock, so a Scan sees a
// consistent snapshot; a batch takes it exclusively, so it is atomic.
// Nothing survives a restart.
type memEngine struct {
	mu     sync.RWMutex // guards everything below
	head   *memNode
	height int
	size   int64 // bytes of keys and values
	rng    *rand.PCG
	closed bool
}

const memMaxHeight = 24

type memNode struct {
	key, value []byte
	next       [memMaxHeight]*memNode
}

func newMemEngine() *memEngine {
	return &memEngine{head: &memNode{}, height: 1, rng: rand.NewPCG(0x616d61746572, 0x7273)}
}

// seek fills prev with the last node before key at every level and returns
// the node at or after key on level 0. e.mu must be held.
func (e *memEngine) seek(key []byte, prev *[memMaxHeight]*memNode) *memNode {
	n := e.head
	for lvl := e.height - 1; lvl >= 0; lvl-- {
		for next := n.next[lvl]; next != nil && bytes.Compare(next.key, key) < 0; next = n.next[lvl] {
			n = next
		}
		if prev != nil {
			prev[lvl] = n
		}
	}
	return n.next[0]
}

func (e *memEngine) Get(key []byte) ([]byte, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, errClosed
	}
	n := e.seek(key, nil)
	if n == nil || !bytes.Equal(n.key, key) {
		return nil, errNotFound
	}
	return bytes.Clone(n.value), nil
}

func (e *memEngine) Apply(ops []op) error {
	// Copy outside the lock: callers may reuse their buffers.
	owned := make([]op, len(ops))
	for i, o := range ops {
		owned[i] = op{del: o.del, key: bytes.Clone(o.key)}
		if !o.del {
			owned[i].value = append([]byte{}, o.value...)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	for _, o := range owned {
		if o.del {
			e.deleteLocked(o.key)
		} else {
			e.setLocked(o.key, o.value)
		}
	}
	return nil
}

// setLocked inserts or replaces key. e.mu must be held for writing.
func (e *memEngine) setLocked(key, value []byte) {
	var prev [memMaxHeight]*memNode
	n := e.seek(key, &prev)
	if n != nil && bytes.Equal(n.key, key) {
		e.size += int64(len(value) - len(n.value))
		n.value = value
		return
	}
	h := 1
	for h < memMaxHeight && e.rng.Uint64()&3 == 0 {
		h++
	}
	for ; e.height < h; e.height++ {
		prev[e.height] = e.head
	}
	nn := &memNode{key: key, value: value}
	for lvl := range h {
		nn.next[lvl] = prev[lvl].next[lvl]
		prev[lvl].next[lvl] = nn
	}
	e.size += int64(len(key) + len(value))
}

// deleteLocked removes key if present. e.mu must be held for writing.
func (e *memEngine) deleteLocked(key []byte) {
	var prev [memMaxHeight]*memNode
	n := e.seek(key, &prev)
	if n == nil || !bytes.Equal(n.key, key) {
		return
	}
	for lvl := 0; lvl < e.height && prev[lvl].next[lvl] == n; lvl++ {
		prev[lvl].next[lvl] = n.next[lvl]
	}
	e.size -= int64(len(n.key) + len(n.value))
}

func (e *memEngine) Scan(lo, hi []byte, fn func(key, value []byte) bool) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return errClosed
	}
	for n := e.seek(lo, nil); n != nil; n = n.next[0] {
		if hi != nil && bytes.Compare(n.key, hi) >= 0 {
			break
		}
		if !fn(n.key, n.value) {
			break
		}
	}
	return nil
}

func (e *memEngine) Flush() error { return nil }

func (e *memEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	e.head = &memNode{}
	return nil
}

func (e *memEngine) Stats() engineStats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return engineStats{SizeBytes: e.size}
}
