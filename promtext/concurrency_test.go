package promtext_test

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"

	"amaters-server/promtext"
	"amaters-server/promtext/promtexttest"
)

// TestConcurrentWriteTo scrapes while goroutines update every kind of
// metric and create series. Every scrape must pass Check, and counters,
// bucket counts and histogram counts never decrease between scrapes.
func TestConcurrentWriteTo(t *testing.T) {
	r := promtext.NewRegistry()
	ops := r.NewCounterVec("ops_total", "Ops.", "op")
	frac := r.NewCounter("frac_total", "Fractional.")
	lat := r.NewHistogramVec("lat_seconds", "Latency.", []float64{0.1, 0.5, 1}, "op")
	conns := r.NewGaugeVec("conns", "Conns.", "kind")
	capped := r.NewCounterVec("capped_total", "Capped.", "c")
	capped.SetMaxSeries(3)
	promtext.RegisterGo(r)
	promtext.RegisterProcess(r)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				op := "op" + strconv.Itoa(i%7)
				ops.With(op).Inc()
				frac.Add(0.25)
				lat.With(op).Observe(float64(i%13) / 10)
				conns.With(strconv.Itoa(w)).Add(1)
				capped.With(strconv.Itoa(i % 50)).Inc()
			}
		}()
	}

	prev := map[string]float64{}
	var buf bytes.Buffer
	for scrape := range 30 {
		buf.Reset()
		if _, err := r.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := promtexttest.Check(buf.Bytes()); err != nil {
			t.Fatalf("scrape %d fails Check: %v", scrape, err)
		}
		cur := monotonicSamples(t, buf.String())
		for k, v := range prev {
			if cur[k] < v {
				t.Errorf("scrape %d: %s went from %v to %v", scrape, k, v, cur[k])
			}
		}
		prev = cur
	}
	close(stop)
	wg.Wait()
	if n := strings.Count(buf.String(), "\ncapped_total{"); n > 4 {
		t.Errorf("capped vector has %d series, want at most 3+1", n)
	}
}

// monotonicSamples parses the samples that must never decrease: counters,
// histogram buckets and counts (process CPU time included).
func monotonicSamples(t *testing.T, out string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		key := line[:i]
		name, _, _ := strings.Cut(key, "{")
		if !strings.HasSuffix(name, "_total") && !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_count") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		m[key] = v
	}
	return m
}
