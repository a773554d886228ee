package promtext_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"amaters-server/promtext"
	"amaters-server/promtext/promtexttest"
)

// benchRegistry builds families × series: half counters, a quarter gauges
// and a quarter histograms with the default 11 buckets, each series with
// two labels and a value. bench/promtext builds the same shape with
// client_golang.
func benchRegistry(families, series int) *promtext.Registry {
	r := promtext.NewRegistry()
	for f := range families {
		name := "bench_family_" + strconv.Itoa(f)
		switch f % 4 {
		case 0, 1:
			cv := r.NewCounterVec(name+"_total", "Benchmark counter.", "op", "code")
			for s := range series {
				cv.With("op_"+strconv.Itoa(s), strconv.Itoa(200+s)).Add(float64(f*series + s))
			}
		case 2:
			gv := r.NewGaugeVec(name, "Benchmark gauge.", "op", "code")
			for s := range series {
				gv.With("op_"+strconv.Itoa(s), strconv.Itoa(200+s)).Set(float64(f*series+s) / 7)
			}
		case 3:
			hv := r.NewHistogramVec(name+"_seconds", "Benchmark histogram.", promtext.DefBuckets(), "op", "code")
			for s := range series {
				h := hv.With("op_"+strconv.Itoa(s), strconv.Itoa(200+s))
				for i := range 20 {
					h.Observe(float64(i*(s+1)) / 100)
				}
			}
		}
	}
	return r
}

func BenchmarkWriteTo(b *testing.B) {
	r := benchRegistry(100, 5)
	var buf bytes.Buffer
	r.WriteTo(&buf)
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	var buf bytes.Buffer
	benchRegistry(100, 5).WriteTo(&buf)
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if err := promtexttest.Check(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCounterInc(b *testing.B) {
	c := promtext.NewRegistry().NewCounter("c_total", "C.")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

func BenchmarkCounterVecWith(b *testing.B) {
	cv := promtext.NewRegistry().NewCounterVec("c_total", "C.", "op", "result")
	cv.With("get", "ok")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cv.With("get", "ok").Inc()
		}
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := promtext.NewRegistry().NewHistogram("h_seconds", "H.", promtext.DefBuckets())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := 0.0
		for pb.Next() {
			h.Observe(v)
			v += 0.001
		}
	})
}
