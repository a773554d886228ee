package promtext

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
)

// overflowValue is the label value of every label of the series that
// collects the label sets beyond a vector's SetMaxSeries cap.
const overflowValue = "other"

// vec is the label-set index shared by CounterVec, GaugeVec and
// HistogramVec. S is the series type.
type vec[S any] struct {
	d         desc
	newSeries func(values []string) *S // renders the series' text once

	mu sync.RWMutex // guards index, sorted and max
	// index maps the key of a label set (see appendKey) to its series.
	index map[string]*S
	// sorted holds the series ordered by label values, for writing.
	sorted []vecEntry[S]
	max    int // SetMaxSeries cap; 0 means none

	// full is set once the cap is reached, so that new label sets go
	// straight to the overflow series without taking mu for writing.
	full  atomic.Bool
	other atomic.Pointer[S] // the overflow series, once created
}

type vecEntry[S any] struct {
	values []string
	s      *S
}

func newVec[S any](d desc, newSeries func([]string) *S) *vec[S] {
	return &vec[S]{d: d, newSeries: newSeries, index: make(map[string]*S)}
}

// appendKey appends an unambiguous encoding of values: each value is
// preceded by its length as a uvarint, so no separator byte can collide
// with label content.
func appendKey(b []byte, values []string) []byte {
	for _, v := range values {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// with returns the series for values, creating it if needed. On an
// existing series it does not allocate: the key is built in a stack buffer
// and the map lookup with string(key) does not copy.
func (v *vec[S]) with(values []string) *S {
	v.d.checkValues(values)
	values = validUTF8Values(values)
	var kb [256]byte
	key := appendKey(kb[:0], values)
	v.mu.RLock()
	s, ok := v.index[string(key)]
	v.mu.RUnlock()
	if ok {
		return s
	}
	if v.full.Load() {
		return v.overflow()
	}
	return v.create(values, key)
}

// create adds the series for values unless it appeared meanwhile or the cap
// is reached.
func (v *vec[S]) create(values []string, key []byte) *S {
	v.mu.Lock()
	if s, ok := v.index[string(key)]; ok {
		v.mu.Unlock()
		return s
	}
	if v.max > 0 && len(v.index) >= v.max {
		v.full.Store(true)
		v.mu.Unlock()
		return v.overflow()
	}
	s := v.insertLocked(slices.Clone(values), string(key))
	v.mu.Unlock()
	return s
}

// insertLocked creates and indexes the series. v.mu must be held for writing.
func (v *vec[S]) insertLocked(values []string, key string) *S {
	s := v.newSeries(values)
	v.index[key] = s
	i, _ := slices.BinarySearchFunc(v.sorted, values, func(e vecEntry[S], t []string) int {
		return slices.Compare(e.values, t)
	})
	v.sorted = slices.Insert(v.sorted, i, vecEntry[S]{values: values, s: s})
	return s
}

// overflow returns the series whose label values are all "other", creating
// it beyond the cap if needed.
func (v *vec[S]) overflow() *S {
	if s := v.other.Load(); s != nil {
		return s
	}
	values := make([]string, len(v.d.labels))
	for i := range values {
		values[i] = overflowValue
	}
	key := string(appendKey(nil, values))
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.index[key]
	if !ok {
		s = v.insertLocked(values, key)
	}
	v.other.Store(s)
	return s
}

// setMax sets the cardinality cap; n <= 0 removes it.
func (v *vec[S]) setMax(n int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.max = max(n, 0)
	v.full.Store(v.max > 0 && len(v.index) >= v.max)
}
