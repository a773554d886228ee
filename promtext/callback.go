package promtext

import (
	"slices"
)

// funcFamily is an unlabelled metric whose value is read at each
// exposition. When fn reports !ok the family writes only its HELP and TYPE
// lines; the process and runtime collectors use that when a source is
// unavailable, so a scrape never fails.
type funcFamily struct {
	d      desc
	prefix []byte
	fn     func(gen uint64) (float64, bool)
}

func (f *funcFamily) appendTo(b []byte, gen uint64) []byte {
	b = append(b, f.d.header...)
	if v, ok := f.fn(gen); ok {
		b = appendSample(b, f.prefix, v)
	}
	return b
}

func (r *Registry) newFunc(name, help, typ string, fn func(gen uint64) (float64, bool)) {
	d := newDesc(name, help, typ, nil)
	r.register(name, nil, &funcFamily{d: d, prefix: samplePrefix(nil, name, nil, nil), fn: fn})
}

// NewGaugeFunc registers a gauge whose value is fn's result, called at each
// exposition. It panics on a definition error (see the package
// documentation).
func (r *Registry) NewGaugeFunc(name, help string, fn func() float64) {
	r.newFunc(name, help, "gauge", func(uint64) (float64, bool) { return fn(), true })
}

// NewCounterFunc registers a counter whose value is fn's result, called at
// each exposition, for counts kept elsewhere. fn must never return less than
// it did before. The name must end in "_total". It panics on a definition
// error (see the package documentation).
func (r *Registry) NewCounterFunc(name, help string, fn func() float64) {
	r.newFunc(name, help, "counter", func(uint64) (float64, bool) { return fn(), true })
}

// NewGaugeVecFunc registers a labelled gauge family whose series are
// produced at each exposition: fn is called with an emit function and calls
// it once per series, with one label value per label name. Series are
// written sorted by label values; if fn emits one label set twice, the first
// value wins. emit panics if the number of label values is wrong, and must
// not be called after fn returns. It panics on a definition error (see the
// package documentation).
func (r *Registry) NewGaugeVecFunc(name, help string, labels []string, fn func(emit func(value float64, labelValues ...string))) {
	f := &gaugeVecFunc{d: newDesc(name, help, "gauge", labels), fn: fn}
	f.emitFn = f.emit
	r.register(name, nil, f)
}

// NewCounterVecFunc is NewGaugeVecFunc for a labelled counter family whose
// counts are kept elsewhere: each series must never go down. The name must
// end in "_total".
func (r *Registry) NewCounterVecFunc(name, help string, labels []string, fn func(emit func(value float64, labelValues ...string))) {
	f := &gaugeVecFunc{d: newDesc(name, help, "counter", labels), fn: fn}
	f.emitFn = f.emit
	r.register(name, nil, f)
}

// gaugeVecFunc is the family of NewGaugeVecFunc and NewCounterVecFunc.
type gaugeVecFunc struct {
	d      desc
	fn     func(emit func(value float64, labelValues ...string))
	emitFn func(value float64, labelValues ...string) // f.emit, bound once

	// scratch collects the emitted series of the exposition being
	// rendered; it is reused, guarded by the registry's renderMu.
	scratch []emitted
}

type emitted struct {
	values []string
	v      float64
}

func (f *gaugeVecFunc) emit(v float64, values ...string) {
	f.d.checkValues(values)
	values = validUTF8Values(values)
	n := len(f.scratch)
	if n < cap(f.scratch) {
		f.scratch = f.scratch[:n+1]
	} else {
		f.scratch = append(f.scratch, emitted{})
	}
	e := &f.scratch[n]
	e.values = append(e.values[:0], values...)
	e.v = v
}

func (f *gaugeVecFunc) appendTo(b []byte, _ uint64) []byte {
	b = append(b, f.d.header...)
	f.scratch = f.scratch[:0]
	f.fn(f.emitFn)
	slices.SortStableFunc(f.scratch, func(x, y emitted) int { return slices.Compare(x.values, y.values) })
	for i, e := range f.scratch {
		if i > 0 && slices.Equal(f.scratch[i-1].values, e.values) {
			continue
		}
		b = append(b, f.d.name...)
		b = appendLabels(b, f.d.labels, e.values, "", "")
		b = append(b, ' ')
		b = appendFloat(b, e.v)
		b = append(b, '\n')
	}
	return b
}
