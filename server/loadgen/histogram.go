package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear histogram of durations in the manner of
// HdrHistogram: values below 128 ns have a bucket of their own, and each
// power of two above is split into 128 equal buckets, so a bucket is at
// most 1/128 of its values wide and a quantile, reported at its bucket's
// middle, is off by at most 0.4 %. It spans 0 to 2³⁷ ns (137 s; longer
// values count as 137 s) in a fixed array of 3968 counters (31 KiB):
// Record never allocates.
//
// The zero value is an empty histogram. A Histogram is not safe for
// concurrent use: keep one per goroutine and Merge them.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // buckets per power of two
	histMaxBits = 37               // values are below 2^histMaxBits ns
	histBuckets = histSub + (histMaxBits-histSubBits)*histSub
)

// histIndex returns the bucket of v, 0 <= v < 2^histMaxBits.
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1 // v>>shift is in [128, 256)
	return histSub + shift*histSub + int(v>>shift) - histSub
}

// histMid returns the middle of bucket i.
func histMid(i int) time.Duration {
	if i < histSub {
		return time.Duration(i)
	}
	shift := (i - histSub) / histSub
	m := uint64(histSub + (i-histSub)%histSub)
	return time.Duration(m<<shift + (uint64(1)<<shift)/2)
}

// Record adds one duration. A negative duration counts as 0.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	v := min(uint64(d), 1<<histMaxBits-1)
	h.counts[histIndex(v)]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() int64 { return int64(h.n) }

// Quantile returns the value at quantile q (0 < q <= 1): the smallest
// recorded value v such that a fraction q of the values are at most v,
// within the bucket precision and never outside [min, max]. It returns 0
// for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(histMid(i), h.min), h.max)
		}
	}
	return h.max
}

// Summary returns p50, p90, p99, p99.9, the exact maximum and the exact
// mean.
func (h *Histogram) Summary() LatencySummary {
	if h.n == 0 {
		return LatencySummary{}
	}
	return LatencySummary{
		P50:  h.Quantile(0.50),
		P90:  h.Quantile(0.90),
		P99:  h.Quantile(0.99),
		P999: h.Quantile(0.999),
		Max:  h.max,
		Mean: h.sum / time.Duration(h.n),
	}
}
