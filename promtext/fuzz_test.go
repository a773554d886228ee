package promtext_test

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	"amaters-server/promtext"
	"amaters-server/promtext/promtexttest"
)

// FuzzRoundTrip registers metrics with arbitrary help text, label values
// and numbers: what the registry writes must always pass Check, and the
// gauge value must parse back to the same float.
func FuzzRoundTrip(f *testing.F) {
	f.Add("Plain help.", "get", "ok", 1.5, 0.25)
	f.Add("C:\\path\nline two \"q\"", "back\\slash", "new\nline", math.Inf(1), -3.0)
	f.Add("cr\r", "quote\"", "\xff\xfe", math.NaN(), 1e300)
	f.Add("\\", "", "}", -0.0, math.Inf(-1))
	f.Fuzz(func(t *testing.T, help, v1, v2 string, gauge, obs float64) {
		if help == "" {
			return // empty help is a definition error
		}
		r := promtext.NewRegistry()
		r.NewCounterVec("fuzz_total", help, "a", "b").With(v1, v2).Inc()
		r.NewCounterVec("fuzz_other_total", help, "a", "b").With(v2, v1).Add(2)
		g := r.NewGaugeVec("fuzz_gauge", help, "a")
		g.With(v1).Set(gauge)
		g.With(v2).Set(gauge)
		r.NewHistogramVec("fuzz_seconds", help, []float64{-1, 0, 1}, "a").With(v1).Observe(obs)
		r.NewGaugeVecFunc("fuzz_func", help, []string{"x", "y"}, func(emit func(float64, ...string)) {
			emit(gauge, v1, v2)
			emit(obs, v2, v1)
			emit(1, v1, v2)
		})
		var buf bytes.Buffer
		if _, err := r.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if err := promtexttest.Check(buf.Bytes()); err != nil {
			t.Fatalf("Check rejects our output: %v\n%q", err, buf.String())
		}
		for line := range strings.Lines(buf.String()) {
			if !strings.HasPrefix(line, "fuzz_gauge{") {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			got, err := strconv.ParseFloat(strings.TrimSuffix(line[i+1:], "\n"), 64)
			if err != nil || !(got == gauge || math.IsNaN(got) && math.IsNaN(gauge)) {
				t.Fatalf("gauge %v written as %q", gauge, line)
			}
		}
	})
}
