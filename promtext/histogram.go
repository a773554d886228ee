package promtext

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
)

// DefBuckets returns the default histogram buckets, in seconds, suited to
// request latencies from 5 ms to 10 s. Each call returns a new slice.
func DefBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// ExponentialBuckets returns n buckets: start, start*factor,
// start*factor², …. It panics unless start > 0, factor > 1 and n >= 1.
func ExponentialBuckets(start, factor float64, n int) []float64 {
	if !(start > 0) || !(factor > 1) || n < 1 {
		panic(fmt.Sprintf("promtext: ExponentialBuckets(%v, %v, %d): need start > 0, factor > 1, n >= 1", start, factor, n))
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// LinearBuckets returns n buckets: start, start+width, start+2*width, ….
// It panics unless width > 0 and n >= 1.
func LinearBuckets(start, width float64, n int) []float64 {
	if !(width > 0) || n < 1 {
		panic(fmt.Sprintf("promtext: LinearBuckets(%v, %v, %d): need width > 0, n >= 1", start, width, n))
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = start + float64(i)*width
	}
	return b
}

// Histogram counts observations in buckets. Observe is lock-free.
//
// A Histogram is safe for concurrent use. Create it with
// [Registry.NewHistogram] or [HistogramVec.With]; the zero value is not
// usable.
type Histogram struct {
	upper []float64 // bucket upper bounds, increasing, without +Inf; shared by a vec
	// counts[i] counts observations v with upper[i-1] < v <= upper[i]; the
	// last element counts those above every bound (and NaN). They are not
	// cumulative, so Observe touches one counter; the writer sums them.
	counts []atomic.Uint64
	sum    atomic.Uint64 // float64 bits of the sum of observations

	// text holds the rendered start of every line the series writes:
	// one _bucket line per bound plus le="+Inf", then _sum, then _count.
	// ends[i] is where line i's prefix ends in text.
	text []byte
	ends []int
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	// sort.SearchFloat64s finds the first bound >= v; NaN matches none
	// and lands in the +Inf bucket, as in client_golang.
	h.counts[sort.SearchFloat64s(h.upper, v)].Add(1)
	addFloat(&h.sum, v)
}

// newHistogram renders a series' text.
func newHistogram(name string, upper []float64, labels, values []string) *Histogram {
	h := &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
	var le []byte
	for i := 0; i <= len(upper); i++ {
		le = le[:0]
		if i < len(upper) {
			le = appendFloat(le, upper[i])
		} else {
			le = append(le, "+Inf"...)
		}
		h.text = append(h.text, name...)
		h.text = append(h.text, "_bucket"...)
		h.text = appendLabels(h.text, labels, values, "le", string(le))
		h.text = append(h.text, ' ')
		h.ends = append(h.ends, len(h.text))
	}
	for _, suffix := range []string{"_sum", "_count"} {
		h.text = append(h.text, name...)
		h.text = append(h.text, suffix...)
		h.text = appendLabels(h.text, labels, values, "", "")
		h.text = append(h.text, ' ')
		h.ends = append(h.ends, len(h.text))
	}
	return h
}

// appendTo appends the series' bucket, sum and count lines. The count is
// the sum of the bucket counts read here, so le="+Inf" equals _count in
// every exposition even while Observe runs.
func (h *Histogram) appendTo(b []byte) []byte {
	var cum uint64
	start := 0
	for i := range h.counts {
		cum += h.counts[i].Load()
		b = append(b, h.text[start:h.ends[i]]...)
		b = strconv.AppendUint(b, cum, 10)
		b = append(b, '\n')
		start = h.ends[i]
	}
	n := len(h.counts)
	b = append(b, h.text[start:h.ends[n]]...)
	b = appendFloat(b, math.Float64frombits(h.sum.Load()))
	b = append(b, '\n')
	b = append(b, h.text[h.ends[n]:h.ends[n+1]]...)
	b = strconv.AppendUint(b, cum, 10)
	return append(b, '\n')
}

// HistogramVec is a family of histograms distinguished by label values.
//
// A HistogramVec is safe for concurrent use. Create it with
// [Registry.NewHistogramVec]; the zero value is not usable.
type HistogramVec struct {
	v *vec[Histogram]
}

// checkBuckets returns a private copy of buckets without a final +Inf,
// DefBuckets if buckets is empty, and panics unless the bounds are strictly
// increasing and not NaN.
func checkBuckets(name string, buckets []float64) []float64 {
	if len(buckets) == 0 {
		buckets = DefBuckets()
	}
	upper := slices.Clone(buckets)
	if math.IsInf(upper[len(upper)-1], 1) {
		upper = upper[:len(upper)-1]
	}
	for i, u := range upper {
		if math.IsNaN(u) || i > 0 && !(upper[i-1] < u) || math.IsInf(u, 1) {
			panic(fmt.Sprintf("promtext: histogram %q: buckets must be strictly increasing numbers, got %v", name, buckets))
		}
	}
	return upper
}

// NewHistogram registers and returns an unlabelled histogram with the given
// bucket upper bounds (a final +Inf is implied; nil or empty means
// [DefBuckets]). It panics on a definition error (see the package
// documentation).
func (r *Registry) NewHistogram(name, help string, buckets []float64) *Histogram {
	d := newDesc(name, help, "histogram", nil)
	h := newHistogram(name, checkBuckets(name, buckets), nil, nil)
	r.register(name, histogramNames(name), &histogramFamily{d: d, h: h})
	return h
}

// NewHistogramVec registers and returns a histogram family with the given
// buckets (as for [Registry.NewHistogram]) and label names, which must not
// include "le". It panics on a definition error (see the package
// documentation).
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	d := newDesc(name, help, "histogram", labels)
	upper := checkBuckets(name, buckets)
	hv := &HistogramVec{v: newVec(d, func(values []string) *Histogram {
		return newHistogram(name, upper, d.labels, values)
	})}
	r.register(name, histogramNames(name), hv)
	return hv
}

func histogramNames(name string) []string {
	return []string{name + "_bucket", name + "_sum", name + "_count"}
}

// With returns the histogram for the given label values, one per label
// name, creating it on first use. It does not allocate when the series
// exists. It panics if the number of values differs from the number of
// label names.
func (hv *HistogramVec) With(values ...string) *Histogram { return hv.v.with(values) }

// SetMaxSeries caps the number of label sets at n (n <= 0: no cap). Once n
// series exist, new label sets share one series whose label values are all
// "other", so the family holds at most n+1 series. Existing series are kept.
func (hv *HistogramVec) SetMaxSeries(n int) { hv.v.setMax(n) }

func (hv *HistogramVec) appendTo(b []byte, _ uint64) []byte {
	b = append(b, hv.v.d.header...)
	hv.v.mu.RLock()
	for _, e := range hv.v.sorted {
		b = e.s.appendTo(b)
	}
	hv.v.mu.RUnlock()
	return b
}

// histogramFamily is an unlabelled histogram's family.
type histogramFamily struct {
	d desc
	h *Histogram
}

func (f *histogramFamily) appendTo(b []byte, _ uint64) []byte {
	b = append(b, f.d.header...)
	return f.h.appendTo(b)
}
