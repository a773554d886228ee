package promtext

import (
	"math"
	"sync/atomic"
)

// Gauge is a value that can go up and down. All its methods are lock-free.
//
// A Gauge is safe for concurrent use. Gauges are created by a [Registry]
// or a [GaugeVec]; the zero value reads 0 but belongs to no registry and is
// never exposed.
type Gauge struct {
	bits   atomic.Uint64 // float64 bits of the value
	prefix []byte        // the rendered `name{labels} ` of the sample line
}

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Sub subtracts v.
func (g *Gauge) Sub(v float64) { addFloat(&g.bits, -v) }

// Inc adds 1.
func (g *Gauge) Inc() { addFloat(&g.bits, 1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { addFloat(&g.bits, -1) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// GaugeVec is a family of gauges distinguished by label values.
//
// A GaugeVec is safe for concurrent use. Create it with
// [Registry.NewGaugeVec]; the zero value is not usable.
type GaugeVec struct {
	v *vec[Gauge]
}

// NewGauge registers and returns an unlabelled gauge. It panics on a
// definition error (see the package documentation).
func (r *Registry) NewGauge(name, help string) *Gauge {
	d := newDesc(name, help, "gauge", nil)
	g := &Gauge{prefix: samplePrefix(nil, name, nil, nil)}
	r.register(name, nil, &gaugeFamily{d: d, g: g})
	return g
}

// NewGaugeVec registers and returns a gauge family with the given label
// names. It panics on a definition error (see the package documentation).
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	d := newDesc(name, help, "gauge", labels)
	gv := &GaugeVec{v: newVec(d, func(values []string) *Gauge {
		return &Gauge{prefix: samplePrefix(nil, name, d.labels, values)}
	})}
	r.register(name, nil, gv)
	return gv
}

// With returns the gauge for the given label values, one per label name,
// creating it on first use. It does not allocate when the series exists. It
// panics if the number of values differs from the number of label names.
func (gv *GaugeVec) With(values ...string) *Gauge { return gv.v.with(values) }

// SetMaxSeries caps the number of label sets at n (n <= 0: no cap). Once n
// series exist, new label sets share one series whose label values are all
// "other", so the family holds at most n+1 series. Existing series are kept.
func (gv *GaugeVec) SetMaxSeries(n int) { gv.v.setMax(n) }

func (gv *GaugeVec) appendTo(b []byte, _ uint64) []byte {
	b = append(b, gv.v.d.header...)
	gv.v.mu.RLock()
	for _, e := range gv.v.sorted {
		b = appendSample(b, e.s.prefix, e.s.Value())
	}
	gv.v.mu.RUnlock()
	return b
}

// gaugeFamily is an unlabelled gauge's family.
type gaugeFamily struct {
	d desc
	g *Gauge
}

func (f *gaugeFamily) appendTo(b []byte, _ uint64) []byte {
	b = append(b, f.d.header...)
	return appendSample(b, f.g.prefix, f.g.Value())
}
