// Package promtext_test compares amaters-server/promtext with
// prometheus/client_golang on the same metrics: 80 families × 5 series, half
// counters, a quarter gauges and a quarter histograms (default buckets),
// each series with two labels (named in sorted order, as client_golang
// prints them, so that both outputs are byte-identical).
//
//	cd bench && go test -run XXX -bench . -benchmem ./promtext
package promtext_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"amaters-server/promtext"
	"amaters-server/promtext/promtexttest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

const (
	families = 80
	series   = 5
)

// each calls fn for every series of the shared shape: kind is 0 (counter),
// 1 (gauge) or 2 (histogram); observations are the values to record.
func each(fn func(family int, name string, kind int, op, code string, value float64)) {
	for f := range families {
		name := "bench_family_" + strconv.Itoa(f)
		kind := [4]int{0, 0, 1, 2}[f%4]
		switch kind {
		case 0:
			name += "_total"
		case 2:
			name += "_seconds"
		}
		for s := range series {
			fn(f, name, kind, "op_"+strconv.Itoa(s), strconv.Itoa(200+s), float64(f*series+s))
		}
	}
}

func ours() *promtext.Registry {
	r := promtext.NewRegistry()
	cvs := map[string]*promtext.CounterVec{}
	gvs := map[string]*promtext.GaugeVec{}
	hvs := map[string]*promtext.HistogramVec{}
	each(func(f int, name string, kind int, op, code string, v float64) {
		switch kind {
		case 0:
			if cvs[name] == nil {
				cvs[name] = r.NewCounterVec(name, "Benchmark counter.", "code", "op")
			}
			cvs[name].With(code, op).Add(v)
		case 1:
			if gvs[name] == nil {
				gvs[name] = r.NewGaugeVec(name, "Benchmark gauge.", "code", "op")
			}
			gvs[name].With(code, op).Set(v / 7)
		case 2:
			if hvs[name] == nil {
				hvs[name] = r.NewHistogramVec(name, "Benchmark histogram.", promtext.DefBuckets(), "code", "op")
			}
			h := hvs[name].With(code, op)
			for i := range 20 {
				h.Observe(float64(i)*v/1000 + 0.001)
			}
		}
	})
	return r
}

func theirs() *prometheus.Registry {
	r := prometheus.NewRegistry()
	cvs := map[string]*prometheus.CounterVec{}
	gvs := map[string]*prometheus.GaugeVec{}
	hvs := map[string]*prometheus.HistogramVec{}
	each(func(f int, name string, kind int, op, code string, v float64) {
		switch kind {
		case 0:
			if cvs[name] == nil {
				cvs[name] = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: "Benchmark counter."}, []string{"code", "op"})
				r.MustRegister(cvs[name])
			}
			cvs[name].WithLabelValues(code, op).Add(v)
		case 1:
			if gvs[name] == nil {
				gvs[name] = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: "Benchmark gauge."}, []string{"code", "op"})
				r.MustRegister(gvs[name])
			}
			gvs[name].WithLabelValues(code, op).Set(v / 7)
		case 2:
			if hvs[name] == nil {
				hvs[name] = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: "Benchmark histogram.", Buckets: prometheus.DefBuckets}, []string{"code", "op"})
				r.MustRegister(hvs[name])
			}
			h := hvs[name].WithLabelValues(code, op)
			for i := range 20 {
				h.Observe(float64(i)*v/1000 + 0.001)
			}
		}
	})
	return r
}

// writeTheirs is client_golang's exposition path: gather, then encode
// every family as text 0.0.4.
func writeTheirs(r *prometheus.Registry, w io.Writer) error {
	mfs, err := r.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// TestSameExposition checks that both libraries expose the same text for
// the same metrics, so the benchmarks compare like with like, and that
// both pass promtexttest.Check.
func TestSameExposition(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := ours().WriteTo(&a); err != nil {
		t.Fatal(err)
	}
	if err := writeTheirs(theirs(), &b); err != nil {
		t.Fatal(err)
	}
	if err := promtexttest.Check(a.Bytes()); err != nil {
		t.Errorf("promtext output: %v", err)
	}
	if err := promtexttest.Check(b.Bytes()); err != nil {
		t.Errorf("client_golang output: %v", err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("outputs differ: promtext %d bytes, client_golang %d bytes", a.Len(), b.Len())
		al, bl := bytes.Split(a.Bytes(), []byte("\n")), bytes.Split(b.Bytes(), []byte("\n"))
		for i := 0; i < len(al) && i < len(bl); i++ {
			if !bytes.Equal(al[i], bl[i]) {
				t.Errorf("first difference on line %d:\n promtext:      %s\n client_golang: %s", i+1, al[i], bl[i])
				break
			}
		}
	}
}

func BenchmarkWriteTo(b *testing.B) {
	b.Run("promtext", func(b *testing.B) {
		r := ours()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		r := theirs()
		b.ReportAllocs()
		for b.Loop() {
			if err := writeTheirs(r, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandler serves one uncompressed scrape through each library's
// HTTP handler.
func BenchmarkHandler(b *testing.B) {
	run := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code)
			}
		}
	}
	b.Run("promtext", func(b *testing.B) { run(b, promtext.Handler(ours())) })
	b.Run("client_golang", func(b *testing.B) {
		r := theirs()
		run(b, promhttp.HandlerFor(r, promhttp.HandlerOpts{}))
	})
}

func BenchmarkCounterVecInc(b *testing.B) {
	b.Run("promtext", func(b *testing.B) {
		cv := promtext.NewRegistry().NewCounterVec("c_total", "C.", "code", "op")
		b.ReportAllocs()
		for b.Loop() {
			cv.With("get", "200").Inc()
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		cv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "C."}, []string{"code", "op"})
		b.ReportAllocs()
		for b.Loop() {
			cv.WithLabelValues("get", "200").Inc()
		}
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	b.Run("promtext", func(b *testing.B) {
		h := promtext.NewRegistry().NewHistogram("h_seconds", "H.", promtext.DefBuckets())
		b.ReportAllocs()
		for b.Loop() {
			h.Observe(0.042)
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "H.", Buckets: prometheus.DefBuckets})
		b.ReportAllocs()
		for b.Loop() {
			h.Observe(0.042)
		}
	})
}
