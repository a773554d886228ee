package promtext

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metric families and writes them in text format 0.0.4.
//
// Metrics are created through the registry (NewCounter, NewGaugeVec, …) and
// stay registered for its lifetime. A Registry is safe for concurrent use:
// registration, updates of its metrics and [Registry.WriteTo] may all run at
// once. The zero value is an empty registry ready to use; a Registry must not
// be copied after first use. There is no default registry.
type Registry struct {
	// families is the registered families sorted by name. It is replaced,
	// never modified, so WriteTo reads it without a lock.
	families atomic.Pointer[[]entry]

	mu sync.Mutex // guards names and the replacement of families
	// names maps every sample name a family writes (a histogram x writes
	// x_bucket, x_sum and x_count) and every family name to the family
	// that owns it, so two families can never write the same line names.
	names map[string]string

	// renderMu serialises rendering so that collectors that read the system
	// once per exposition (process, Go runtime, callbacks with scratch
	// space) can cache by generation. It guards gen and those caches.
	renderMu sync.Mutex
	gen      uint64

	// spare is the exposition buffer kept between scrapes. A scrape takes
	// it with Swap(nil) and stores it back; a concurrent scrape that finds
	// none allocates its own. Unlike a sync.Pool it survives GC, so a
	// steady-state scrape allocates nothing.
	spare atomic.Pointer[[]byte]
}

// entry is one registered family.
type entry struct {
	name string
	f    family
}

// family is implemented by every metric kind.
type family interface {
	// appendTo appends the family's HELP, TYPE and sample lines. gen
	// identifies the exposition being rendered; it is called with the
	// registry's renderMu held.
	appendTo(b []byte, gen uint64) []byte
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// register adds f under name. sampleNames are the line names it writes
// besides name itself. It panics when any of them is taken.
func (r *Registry) register(name string, sampleNames []string, f family) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil {
		r.names = make(map[string]string)
	}
	all := append([]string{name}, sampleNames...)
	for _, n := range all {
		if owner, ok := r.names[n]; ok {
			if owner == name {
				panic(fmt.Sprintf("promtext: metric family %q registered twice", name))
			}
			panic(fmt.Sprintf("promtext: metric family %q writes %q, which family %q already uses", name, n, owner))
		}
	}
	for _, n := range all {
		r.names[n] = name
	}
	var old []entry
	if p := r.families.Load(); p != nil {
		old = *p
	}
	i, _ := slices.BinarySearchFunc(old, name, func(e entry, n string) int { return strings.Compare(e.name, n) })
	fams := make([]entry, 0, len(old)+1)
	fams = append(fams, old[:i]...)
	fams = append(fams, entry{name: name, f: f})
	fams = append(fams, old[i:]...)
	r.families.Store(&fams)
}

// AppendText appends the whole exposition to b and returns the extended
// buffer. Families are sorted by name.
func (r *Registry) AppendText(b []byte) []byte {
	p := r.families.Load()
	if p == nil {
		return b
	}
	r.renderMu.Lock()
	defer r.renderMu.Unlock()
	r.gen++
	for _, e := range *p {
		b = e.f.appendTo(b, r.gen)
	}
	return b
}

// WriteTo writes the whole exposition to w with a single Write call and
// returns the number of bytes written. It renders into a reused buffer, so
// in steady state it does not allocate per sample. It implements
// [io.WriterTo].
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	bp := r.buffer()
	defer r.spare.Store(bp)
	*bp = r.AppendText((*bp)[:0])
	n, err := w.Write(*bp)
	return int64(n), err
}

// buffer returns the spare exposition buffer, or a new one; the caller
// stores it back in r.spare when done.
func (r *Registry) buffer() *[]byte {
	if bp := r.spare.Swap(nil); bp != nil {
		return bp
	}
	b := make([]byte, 0, 16<<10)
	return &b
}

// desc is the validated definition every family shares.
type desc struct {
	name   string
	labels []string
	header []byte // the pre-rendered HELP and TYPE lines
}

// newDesc validates a definition and renders its header. It panics on a
// definition error; see the package documentation.
func newDesc(name, help, typ string, labels []string) desc {
	if !validMetricName(name) {
		panic(fmt.Sprintf("promtext: invalid metric name %q", name))
	}
	if help == "" {
		panic(fmt.Sprintf("promtext: metric %q has empty help", name))
	}
	if typ == "counter" && !strings.HasSuffix(name, "_total") {
		panic(fmt.Sprintf("promtext: counter name %q does not end in _total", name))
	}
	for i, l := range labels {
		if !validLabelName(l) {
			panic(fmt.Sprintf("promtext: metric %q: invalid label name %q", name, l))
		}
		if strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("promtext: metric %q: label name %q is reserved (prefix __)", name, l))
		}
		if slices.Contains(labels[:i], l) {
			panic(fmt.Sprintf("promtext: metric %q: duplicate label name %q", name, l))
		}
		if typ == "histogram" && l == "le" {
			panic(fmt.Sprintf("promtext: histogram %q: label name \"le\" is reserved for buckets", name))
		}
	}
	help = strings.ToValidUTF8(help, "\uFFFD")
	return desc{
		name:   name,
		labels: slices.Clone(labels),
		header: appendHeader(nil, name, help, typ),
	}
}

// checkValues panics when values does not match the label names of d.
func (d *desc) checkValues(values []string) {
	if len(values) != len(d.labels) {
		panic(fmt.Sprintf("promtext: metric %q has %d label names, got %d values", d.name, len(d.labels), len(values)))
	}
}
