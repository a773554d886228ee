package promtext_test

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"amaters-server/promtext"
	"amaters-server/promtext/promtexttest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// fixedRegistry builds a registry that uses every kind of family, with
// values that need escaping and special float forms.
func fixedRegistry() *promtext.Registry {
	r := promtext.NewRegistry()

	ops := r.NewCounterVec("amaters_storage_ops_total", "Storage operations, by op and result.", "op", "result")
	ops.With("set", "ok").Add(3)
	ops.With("get", "ok").Add(1027)
	ops.With("get", "not_found").Inc()
	ops.With("delete", "error").Add(0.5)

	r.NewCounter("amaters_ratelimit_rejected_total", "Requests rejected by the rate limiter.").Add(2)
	r.NewCounterVec("amaters_auth_failures_total", "Authentication failures (none yet).", "method", "reason")

	errs := r.NewCounterVec("amaters_network_errors_total", "Network errors by kind. Path: C:\\data\\kv\nSecond line; \"quotes\" stay.", "kind")
	errs.With(`back\slash`).Inc()
	errs.With(`double"quote`).Add(2)
	errs.With("new\nline").Add(3)
	errs.With("ünïcödé ✓").Add(4)
	errs.With("bad\xffutf8").Add(5)

	size := r.NewGauge("amaters_storage_size_bytes", "Bytes used by the store.")
	size.Set(4194304)

	ratio := r.NewGaugeVec("amaters_example_ratio", "Gauge with special values.", "kind")
	ratio.With("nan").Set(math.NaN())
	ratio.With("pos").Set(math.Inf(1))
	ratio.With("neg").Set(math.Inf(-1))
	ratio.With("small").Set(-1.5e-7)
	ratio.With("third").Set(1.0 / 3)

	lat := r.NewHistogramVec("amaters_storage_latency_seconds", "Storage operation latency.", []float64{0.005, 0.01, 0.1, 1}, "op")
	for _, v := range []float64{0.001, 0.004, 0.02, 0.5, 3} {
		lat.With("get").Observe(v)
	}
	lat.With("range")
	one := r.NewHistogram("amaters_request_size_bytes", "Request body sizes.", promtext.ExponentialBuckets(64, 4, 3))
	one.Observe(100)
	one.Observe(100000)

	r.NewGaugeFunc("amaters_network_connections", "Open client connections.", func() float64 { return 7 })
	r.NewCounterFunc("amaters_lsm_flushes_total", "Memtable flushes.", func() float64 { return 12 })
	r.NewGaugeVecFunc("amaters_lsm_level_files", "Live SSTables per LSM level.", []string{"level"}, func(emit func(float64, ...string)) {
		emit(12, "1")
		emit(3, "0")
		emit(99, "1") // duplicate: the first value wins
		emit(0, "6")
	})

	capped := r.NewCounterVec("amaters_collection_reads_total", "Reads per collection (capped).", "collection")
	capped.SetMaxSeries(2)
	for _, c := range []string{"users", "orders", "logs", "audit", "users"} {
		capped.With(c).Inc()
	}

	r.NewGaugeVec("amaters_build_info", "Build information.", "version", "goversion").With("1.0.0", "go1.26").Set(1)
	return r
}

func TestGolden(t *testing.T) {
	r := fixedRegistry()
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	if err := promtexttest.Check(got); err != nil {
		t.Fatalf("own output fails Check:\n%v\n%s", err, got)
	}
	golden := filepath.Join("testdata", "registry.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -run TestGolden -update and review the diff):\n%s", golden, got)
	}
	// A second exposition of unchanged metrics is byte-identical.
	buf.Reset()
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), got) {
		t.Errorf("second exposition differs:\n%s", buf.Bytes())
	}
}

// expose returns the exposition of r and fails the test if Check rejects it.
func expose(t *testing.T, r *promtext.Registry) string {
	t.Helper()
	var buf bytes.Buffer
	n, err := r.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	if err := promtexttest.Check(buf.Bytes()); err != nil {
		t.Fatalf("Check rejects output: %v\n%s", err, buf.Bytes())
	}
	return buf.String()
}

func TestEscaping(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{"plain", "get", `x_total{l="get"} 1`},
		{"backslash", `a\b`, `x_total{l="a\\b"} 1`},
		{"quote", `say "hi"`, `x_total{l="say \"hi\""} 1`},
		{"newline", "a\nb", `x_total{l="a\nb"} 1`},
		{"tab stays raw", "a\tb", "x_total{l=\"a\tb\"} 1"},
		{"carriage return stays raw", "a\rb", "x_total{l=\"a\rb\"} 1"},
		{"utf8", "日本", `x_total{l="日本"} 1`},
		{"invalid utf8 replaced", "a\xffb", `x_total{l="a` + "\uFFFD" + `b"} 1`},
		{"empty", "", `x_total{l=""} 1`},
		{"braces and commas", `},{a="b"`, `x_total{l="},{a=\"b\""} 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := promtext.NewRegistry()
			r.NewCounterVec("x_total", "X.", "l").With(tc.value).Inc()
			out := expose(t, r)
			if !strings.Contains(out, "\n"+tc.want+"\n") {
				t.Errorf("missing line %q in:\n%s", tc.want, out)
			}
		})
	}
}

func TestHelpEscaping(t *testing.T) {
	tests := []struct {
		help string
		want string
	}{
		{"Plain text.", "# HELP x Plain text.\n"},
		{`C:\data`, `# HELP x C:\\data` + "\n"},
		{"two\nlines", `# HELP x two\nlines` + "\n"},
		{`quotes "stay" raw`, `# HELP x quotes "stay" raw` + "\n"},
		{"cr\r", "# HELP x cr \n"},
		{"bad \xff utf8", "# HELP x bad \uFFFD utf8\n"},
	}
	for _, tc := range tests {
		t.Run(tc.help, func(t *testing.T) {
			r := promtext.NewRegistry()
			r.NewGauge("x", tc.help)
			if out := expose(t, r); !strings.HasPrefix(out, tc.want) {
				t.Errorf("got %q, want prefix %q", out, tc.want)
			}
		})
	}
}

func TestFloatForms(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{-2.5, "-2.5"},
		{1.0 / 3, "0.3333333333333333"},
		{4194304, "4.194304e+06"},
		{1e-7, "1e-07"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.Copysign(0, -1), "-0"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			r := promtext.NewRegistry()
			r.NewGauge("g", "G.").Set(tc.v)
			if out := expose(t, r); !strings.HasSuffix(out, "\ng "+tc.want+"\n") {
				t.Errorf("got %q, want sample %q", out, tc.want)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	r := promtext.NewRegistry()
	h := r.NewHistogram("h_seconds", "H.", []float64{1, 2, 5})
	for _, v := range []float64{0.5, 1, 1.5, 2, 4, 5, 6, math.NaN(), -1} {
		h.Observe(v)
	}
	out := expose(t, r)
	want := `# HELP h_seconds H.
# TYPE h_seconds histogram
h_seconds_bucket{le="1"} 3
h_seconds_bucket{le="2"} 5
h_seconds_bucket{le="5"} 7
h_seconds_bucket{le="+Inf"} 9
h_seconds_sum NaN
h_seconds_count 9
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestHistogramBuckets(t *testing.T) {
	tests := []struct {
		name    string
		buckets []float64
		want    string // the le values, comma separated
	}{
		{"default", nil, "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,+Inf"},
		{"explicit inf dropped", []float64{1, math.Inf(1)}, "1,+Inf"},
		{"only inf", []float64{math.Inf(1)}, "+Inf"},
		{"exponential", promtext.ExponentialBuckets(1, 10, 3), "1,10,100,+Inf"},
		{"linear", promtext.LinearBuckets(-1, 0.5, 3), "-1,-0.5,0,+Inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := promtext.NewRegistry()
			r.NewHistogram("h", "H.", tc.buckets)
			var les []string
			for line := range strings.Lines(expose(t, r)) {
				if _, rest, ok := strings.Cut(line, `le="`); ok {
					le, _, _ := strings.Cut(rest, `"`)
					les = append(les, le)
				}
			}
			if got := strings.Join(les, ","); got != tc.want {
				t.Errorf("le values %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSeriesOrdering(t *testing.T) {
	// Series are sorted by label values in label order, whatever the
	// creation order; families by name.
	r := promtext.NewRegistry()
	cv := r.NewCounterVec("b_total", "B.", "x", "y")
	for _, lv := range [][2]string{{"b", "a"}, {"a", "z"}, {"a", "b"}, {"", "q"}, {"b", ""}} {
		cv.With(lv[0], lv[1]).Inc()
	}
	r.NewGauge("a", "A.")
	r.NewGauge("c", "C.")
	want := `# HELP a A.
# TYPE a gauge
a 0
# HELP b_total B.
# TYPE b_total counter
b_total{x="",y="q"} 1
b_total{x="a",y="b"} 1
b_total{x="a",y="z"} 1
b_total{x="b",y=""} 1
b_total{x="b",y="a"} 1
# HELP c C.
# TYPE c gauge
c 0
`
	if out := expose(t, r); out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestEmptyVecWritesHeader(t *testing.T) {
	r := promtext.NewRegistry()
	r.NewCounterVec("a_total", "A.", "l")
	r.NewGaugeVec("b", "B.", "l")
	r.NewHistogramVec("c", "C.", nil, "l")
	r.NewGaugeVecFunc("d", "D.", []string{"l"}, func(func(float64, ...string)) {})
	want := "# HELP a_total A.\n# TYPE a_total counter\n# HELP b B.\n# TYPE b gauge\n" +
		"# HELP c C.\n# TYPE c histogram\n# HELP d D.\n# TYPE d gauge\n"
	if out := expose(t, r); out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestEmptyRegistry(t *testing.T) {
	for name, r := range map[string]*promtext.Registry{"new": promtext.NewRegistry(), "zero": {}} {
		t.Run(name, func(t *testing.T) {
			if out := expose(t, r); out != "" {
				t.Errorf("got %q", out)
			}
		})
	}
}

func TestCounterAndGauge(t *testing.T) {
	r := promtext.NewRegistry()
	c := r.NewCounter("c_total", "C.")
	c.Inc()
	c.Add(2)
	c.Add(0.25)
	c.Add(1e20)
	if got, want := c.Value(), 1e20+3.25; got != want {
		t.Errorf("counter = %v, want %v", got, want)
	}
	g := r.NewGauge("g", "G.")
	g.Set(10)
	g.Inc()
	g.Dec()
	g.Dec()
	g.Add(-0.5)
	g.Sub(0.5)
	if got := g.Value(); got != 8 {
		t.Errorf("gauge = %v, want 8", got)
	}
	var zero promtext.Counter
	zero.Inc()
	if zero.Value() != 1 {
		t.Errorf("zero counter = %v", zero.Value())
	}
}

func TestSetMaxSeries(t *testing.T) {
	r := promtext.NewRegistry()
	gv := r.NewGaugeVec("g", "G.", "a", "b")
	gv.SetMaxSeries(2)
	gv.With("x", "1").Set(1)
	gv.With("y", "2").Set(2)
	gv.With("z", "3").Add(3) // folded
	gv.With("w", "4").Add(4) // folded
	gv.With("x", "1").Add(10)
	hv := r.NewHistogramVec("h", "H.", []float64{1}, "c")
	hv.SetMaxSeries(1)
	hv.With("one").Observe(0.5)
	hv.With("two").Observe(2)
	hv.With("three").Observe(3)
	want := `# HELP g G.
# TYPE g gauge
g{a="other",b="other"} 7
g{a="x",b="1"} 11
g{a="y",b="2"} 2
# HELP h H.
# TYPE h histogram
h_bucket{c="one",le="1"} 1
h_bucket{c="one",le="+Inf"} 1
h_sum{c="one"} 0.5
h_count{c="one"} 1
h_bucket{c="other",le="1"} 0
h_bucket{c="other",le="+Inf"} 2
h_sum{c="other"} 5
h_count{c="other"} 2
`
	if out := expose(t, r); out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}

	// Raising the cap admits new series again; removing it too.
	gv.SetMaxSeries(4)
	gv.With("v", "5").Set(5)
	gv.SetMaxSeries(0)
	gv.With("u", "6").Set(6)
	if out := expose(t, r); !strings.Contains(out, `g{a="v",b="5"} 5`) || !strings.Contains(out, `g{a="u",b="6"} 6`) {
		t.Errorf("series not admitted after raising the cap:\n%s", out)
	}
}

func TestCallbacks(t *testing.T) {
	r := promtext.NewRegistry()
	n := 0.0
	r.NewGaugeFunc("g", "G.", func() float64 { n++; return n })
	r.NewCounterFunc("c_total", "C.", func() float64 { return 2 * n })
	levels := []int{5, 0, 3}
	r.NewGaugeVecFunc("files", "Files per level.", []string{"level", "kind"}, func(emit func(float64, ...string)) {
		for i, f := range levels {
			emit(float64(f), string(rune('0'+i)), "sst")
		}
		emit(1, "0", `q"uote`)
	})
	want := func(i int) string {
		return `# HELP c_total C.
# TYPE c_total counter
c_total ` + string(rune('0'+2*(i-1))) + `
# HELP files Files per level.
# TYPE files gauge
files{level="0",kind="q\"uote"} 1
files{level="0",kind="sst"} 5
files{level="1",kind="sst"} 0
files{level="2",kind="sst"} 3
# HELP g G.
# TYPE g gauge
g ` + string(rune('0'+i)) + "\n"
	}
	// Families are written in name order, so the counter callback runs
	// before the gauge callback increments n.
	if out := expose(t, r); out != want(1) {
		t.Errorf("first scrape:\n%s\nwant\n%s", out, want(1))
	}
	if out := expose(t, r); out != want(2) {
		t.Errorf("second scrape:\n%s\nwant\n%s", out, want(2))
	}
}

func TestWithDoesNotAllocate(t *testing.T) {
	r := promtext.NewRegistry()
	cv := r.NewCounterVec("c_total", "C.", "op", "result")
	hv := r.NewHistogramVec("h", "H.", nil, "op")
	gv := r.NewGaugeVec("g", "G.", "op")
	cv.With("get", "ok")
	hv.With("get")
	gv.With("get")
	allocs := testing.AllocsPerRun(100, func() {
		cv.With("get", "ok").Inc()
		hv.With("get").Observe(0.3)
		gv.With("get").Add(1)
	})
	if allocs != 0 {
		t.Errorf("With on existing series allocates %v times", allocs)
	}
	gv.SetMaxSeries(1)
	gv.With("folded")
	allocs = testing.AllocsPerRun(100, func() { gv.With("folded-again").Inc() })
	if allocs != 0 {
		t.Errorf("With folding into the overflow series allocates %v times", allocs)
	}
}

func TestWriteToSteadyStateAllocs(t *testing.T) {
	r := benchRegistry(100, 5)
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		buf.Reset()
		if _, err := r.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteTo allocates %v times per exposition of 100 families x 5 series", allocs)
	}
}

func TestDefinitionPanics(t *testing.T) {
	tests := []struct {
		name string
		def  func(r *promtext.Registry)
	}{
		{"invalid metric name", func(r *promtext.Registry) { r.NewGauge("a-b", "H.") }},
		{"metric name starts with digit", func(r *promtext.Registry) { r.NewGauge("1a", "H.") }},
		{"empty metric name", func(r *promtext.Registry) { r.NewGauge("", "H.") }},
		{"empty help", func(r *promtext.Registry) { r.NewGauge("g", "") }},
		{"counter without _total", func(r *promtext.Registry) { r.NewCounter("requests", "H.") }},
		{"counter func without _total", func(r *promtext.Registry) { r.NewCounterFunc("requests", "H.", func() float64 { return 0 }) }},
		{"invalid label name", func(r *promtext.Registry) { r.NewGaugeVec("g", "H.", "a:b") }},
		{"reserved label name", func(r *promtext.Registry) { r.NewGaugeVec("g", "H.", "__name__") }},
		{"duplicate label name", func(r *promtext.Registry) { r.NewGaugeVec("g", "H.", "a", "a") }},
		{"le on histogram", func(r *promtext.Registry) { r.NewHistogramVec("h", "H.", nil, "le") }},
		{"unsorted buckets", func(r *promtext.Registry) { r.NewHistogram("h", "H.", []float64{1, 0.5}) }},
		{"equal buckets", func(r *promtext.Registry) { r.NewHistogram("h", "H.", []float64{1, 1}) }},
		{"NaN bucket", func(r *promtext.Registry) { r.NewHistogram("h", "H.", []float64{math.NaN()}) }},
		{"duplicate family", func(r *promtext.Registry) { r.NewGauge("g", "H."); r.NewGauge("g", "H.") }},
		{"duplicate across kinds", func(r *promtext.Registry) { r.NewGauge("g_total", "H."); r.NewCounter("g_total", "H.") }},
		{"histogram suffix taken", func(r *promtext.Registry) { r.NewGauge("h_count", "H."); r.NewHistogram("h", "H.", nil) }},
		{"name taken by histogram suffix", func(r *promtext.Registry) { r.NewHistogram("h", "H.", nil); r.NewGauge("h_sum", "H.") }},
		{"too few values", func(r *promtext.Registry) { r.NewCounterVec("c_total", "H.", "a", "b").With("x") }},
		{"too many values", func(r *promtext.Registry) { r.NewGaugeVec("g", "H.", "a").With("x", "y") }},
		{"values on unlabelled vec", func(r *promtext.Registry) { r.NewHistogramVec("h", "H.", nil).With("x") }},
		{"negative add", func(r *promtext.Registry) { r.NewCounter("c_total", "H.").Add(-1) }},
		{"NaN add", func(r *promtext.Registry) { r.NewCounter("c_total", "H.").Add(math.NaN()) }},
		{"process twice", func(r *promtext.Registry) { promtext.RegisterProcess(r); promtext.RegisterProcess(r) }},
		{"go twice", func(r *promtext.Registry) { promtext.RegisterGo(r); promtext.RegisterGo(r) }},
		{"bad exponential", func(*promtext.Registry) { promtext.ExponentialBuckets(1, 1, 3) }},
		{"bad linear", func(*promtext.Registry) { promtext.LinearBuckets(1, 0, 3) }},
		{"emit with wrong values", func(r *promtext.Registry) {
			r.NewGaugeVecFunc("g", "H.", []string{"a"}, func(emit func(float64, ...string)) { emit(1) })
			r.WriteTo(new(bytes.Buffer))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				v := recover()
				if v == nil {
					t.Fatal("no panic")
				}
				if s, ok := v.(string); !ok || !strings.HasPrefix(s, "promtext: ") {
					t.Errorf("panic value %#v is not a promtext message", v)
				}
			}()
			tc.def(promtext.NewRegistry())
		})
	}
}

func TestRegistryUsableAfterCallbackPanic(t *testing.T) {
	r := promtext.NewRegistry()
	bad := true
	r.NewGaugeVecFunc("g", "G.", []string{"a"}, func(emit func(float64, ...string)) {
		if bad {
			emit(1)
		}
		emit(2, "x")
	})
	func() {
		defer func() { _ = recover() }()
		r.WriteTo(new(bytes.Buffer))
	}()
	bad = false
	if out := expose(t, r); !strings.Contains(out, `g{a="x"} 2`) {
		t.Errorf("got %s", out)
	}
}

// TestFloatFormMatchesStrconv checks the integer fast path of the writer
// against strconv's 'g' form around its edges.
func TestFloatFormMatchesStrconv(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 999999, -999999, 1e6, -1e6, 1e6 - 0.5, 123456, 1e15, 0.5, -0.0} {
		r := promtext.NewRegistry()
		r.NewGauge("g", "G.").Set(v)
		want := "\ng " + strconv.FormatFloat(v, 'g', -1, 64) + "\n"
		if out := expose(t, r); !strings.HasSuffix(out, want) {
			t.Errorf("%v: got %q, want suffix %q", v, out, want)
		}
	}
}
