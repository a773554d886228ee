package watch_test

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"amaters-server/server/watch"
)

// BenchmarkWrites measures a writer's PUTs (one at a time) while n
// watchers on an httptest server read every change; the writer never
// waits for them, so the difference is the CPU they take from it.
func BenchmarkWrites(b *testing.B) {
	for _, n := range []int{0, 1, 100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			e := newEnv(b, watch.Options{MaxWatchers: 2000}, 100000)
			var wg sync.WaitGroup
			for range n {
				s := e.open("c", "", "")
				s.next()
				wg.Go(func() {
					// Read until the end marker; bytes only, no parsing.
					buf := make([]byte, 32<<10)
					var tail string
					for {
						k, err := s.rd.Read(buf)
						tail = tail + string(buf[:k])
						if strings.Contains(tail, "ZW5k") { // base64 "end"
							return
						}
						if len(tail) > 8 {
							tail = tail[len(tail)-8:]
						}
						if err == io.EOF || err != nil {
							return
						}
					}
				})
			}
			v := strings.Repeat("v", 100)
			b.ResetTimer()
			for i := range b.N {
				e.write(put("c", fmt.Sprint("k", i%1000), v))
			}
			b.StopTimer()
			e.write(put("c", "end", ""))
			wg.Wait()
			m := e.hub.Metrics()
			b.ReportMetric(float64(m.SlowConsumers), "slow-consumers")
			b.ReportMetric(float64(m.EventsSent)/float64(b.N), "events-sent/op")
		})
	}
}
