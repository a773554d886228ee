package replica_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"amaters-server/cluster/replica"
	"amaters-server/server/store"
)

// benchCluster is three members in this process on loopback HTTP/2
// (the tests' harness and timing), each with its own folder: indicative
// figures only; the comparison with etcd belongs in bench/.
func benchCluster(b *testing.B) *testCluster {
	c := emptyCluster(b, nil)
	for id := uint64(1); id <= 3; id++ {
		c.reserve(id)
	}
	for id := uint64(1); id <= 3; id++ {
		c.start(id, false)
	}
	c.leader()
	return c
}

// BenchmarkWrite: durable replicated writes (a majority fsynced the raft
// log), 64 concurrent writers spread over the members.
func BenchmarkWrite(b *testing.B) {
	c := benchCluster(b)
	var n atomic.Uint64
	val := make([]byte, 100)
	b.SetParallelism(64 / max(1, runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.SetBytes(int64(len(val)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r := c.get(i%3 + 1)
			if _, err := r.Write(b.Context(), store.Request{Ops: []store.Op{put("c", fmt.Sprint("k", i%10000), "", store.Guard{})}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLinearizableRead: linearizable point reads, 64 concurrent
// readers spread over the members (ReadIndex rounds are shared).
func BenchmarkLinearizableRead(b *testing.B) {
	c := benchCluster(b)
	c.mustWrite(1, store.Request{Ops: []store.Op{put("c", "k", "v", store.Guard{})}})
	var n atomic.Uint64
	b.SetParallelism(64 / max(1, runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := c.get(n.Add(1)%3 + 1)
			err := r.Read(b.Context(), replica.Linearizable, func(st *store.Store) error {
				_, _, err := st.Get("c", []byte("k"), time.Time{})
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
