package promtext

import (
	"fmt"
	"math"
	"sync/atomic"
)

// Counter is a monotonically increasing value. Inc and Add are lock-free.
//
// A Counter is safe for concurrent use. Counters are created by a
// [Registry] or a [CounterVec]; the zero value counts from 0 but belongs to
// no registry and is never exposed.
type Counter struct {
	// The value is ints + float64frombits(bits): integral increments,
	// by far the common case, are one atomic add; only fractional ones
	// need a compare-and-swap loop.
	ints   atomic.Uint64
	bits   atomic.Uint64
	prefix []byte // the rendered `name{labels} ` of the sample line
}

// Inc adds 1.
func (c *Counter) Inc() { c.ints.Add(1) }

// Add adds v. It panics if v is negative or NaN, because a counter never
// decreases; use a [Gauge] for values that do.
func (c *Counter) Add(v float64) {
	if !(v >= 0) {
		panic(fmt.Sprintf("promtext: counter cannot decrease (Add(%v))", v))
	}
	if v < 1<<63 {
		if u := uint64(v); float64(u) == v {
			c.ints.Add(u)
			return
		}
	}
	addFloat(&c.bits, v)
}

// Value returns the current value.
func (c *Counter) Value() float64 {
	return float64(c.ints.Load()) + math.Float64frombits(c.bits.Load())
}

// addFloat adds v to the float64 stored as bits in a.
func addFloat(a *atomic.Uint64, v float64) {
	for {
		old := a.Load()
		if a.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// CounterVec is a family of counters distinguished by label values.
//
// A CounterVec is safe for concurrent use. Create it with
// [Registry.NewCounterVec]; the zero value is not usable.
type CounterVec struct {
	v *vec[Counter]
}

// NewCounter registers and returns an unlabelled counter. The name must end
// in "_total". It panics on a definition error (see the package
// documentation).
func (r *Registry) NewCounter(name, help string) *Counter {
	d := newDesc(name, help, "counter", nil)
	c := &Counter{prefix: samplePrefix(nil, name, nil, nil)}
	r.register(name, nil, &counterFamily{d: d, c: c})
	return c
}

// NewCounterVec registers and returns a counter family with the given label
// names. The name must end in "_total". It panics on a definition error (see
// the package documentation).
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	d := newDesc(name, help, "counter", labels)
	cv := &CounterVec{v: newVec(d, func(values []string) *Counter {
		return &Counter{prefix: samplePrefix(nil, name, d.labels, values)}
	})}
	r.register(name, nil, cv)
	return cv
}

// With returns the counter for the given label values, one per label name,
// creating it on first use. It does not allocate when the series exists;
// callers on hot paths may also keep the returned *Counter. It panics if
// the number of values differs from the number of label names.
func (cv *CounterVec) With(values ...string) *Counter { return cv.v.with(values) }

// SetMaxSeries caps the number of label sets at n (n <= 0: no cap). Once n
// series exist, new label sets share one series whose label values are all
// "other", so the family holds at most n+1 series. Existing series are kept.
func (cv *CounterVec) SetMaxSeries(n int) { cv.v.setMax(n) }

func (cv *CounterVec) appendTo(b []byte, _ uint64) []byte {
	b = append(b, cv.v.d.header...)
	cv.v.mu.RLock()
	for _, e := range cv.v.sorted {
		b = appendSample(b, e.s.prefix, e.s.Value())
	}
	cv.v.mu.RUnlock()
	return b
}

// counterFamily is an unlabelled counter's family.
type counterFamily struct {
	d desc
	c *Counter
}

func (f *counterFamily) appendTo(b []byte, _ uint64) []byte {
	b = append(b, f.d.header...)
	return appendSample(b, f.c.prefix, f.c.Value())
}

// samplePrefix appends `name{labels} `, the start of a sample line.
func samplePrefix(b []byte, name string, labels, values []string) []byte {
	b = append(b, name...)
	b = appendLabels(b, labels, values, "", "")
	return append(b, ' ')
}

// appendSample appends a whole sample line.
func appendSample(b, prefix []byte, v float64) []byte {
	b = append(b, prefix...)
	b = appendFloat(b, v)
	return append(b, '\n')
}
