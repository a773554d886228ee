package watch

import (
	"fmt"
	"testing"

	"amaters-server/server/store"
)

// BenchmarkFanOut measures the publisher's work for one committed PUT
// with n watchers on its collection, half of them matching the key by
// prefix: the cost that grows with watchers, spent off the commit path.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			h := New(Options{})
			defer h.Close()
			ws := make([]*watcher, n)
			for i := range ws {
				f := filter{start: []byte("a/"), end: []byte("a0")}
				if i%2 == 1 {
					f = filter{start: []byte("b/"), end: []byte("b0")}
				}
				ws[i] = newWatcher(Request{Collection: "c"}, f)
				h.register(ws[i])
			}
			group := []store.Event{{Revision: 1, Kind: store.EventPut, Collection: "c", Key: []byte("a/1"), Value: make([]byte, 100)}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				h.fanOut(group)
				if i++; i%1000 == 0 {
					for _, w := range ws {
						w.take()
					}
				}
			}
		})
	}
}

// BenchmarkPublish measures what a commit pays for the watch feature:
// Publish only queues the group.
func BenchmarkPublish(b *testing.B) {
	h := New(Options{})
	defer h.Close()
	group := []store.Event{{Revision: 1, Kind: store.EventPut, Collection: "c", Key: []byte("a/1")}}
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(group)
	}
}
