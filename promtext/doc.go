// Package promtext implements Prometheus metrics (counters, gauges,
// histograms, label vectors and callback metrics) and their text exposition
// format 0.0.4, using only the standard library.
//
// A [Registry] holds metric families. There is no default or global
// registry: the program creates one with [NewRegistry], registers its
// metrics, and serves it with [Handler] or writes it with
// [Registry.WriteTo].
//
//	r := promtext.NewRegistry()
//	ops := r.NewCounterVec("amaters_storage_ops_total", "Storage operations.", "op", "result")
//	ops.With("get", "ok").Inc()
//	http.Handle("/metrics", promtext.Handler(r))
//
// # Format
//
// The exposition follows text format 0.0.4: every family is written as one
// uninterrupted group that starts with its "# HELP" and "# TYPE" lines, even
// before its first labelled sample; families are sorted by name and the
// series of a family by their label values (compared one by one in label
// order). Label values are escaped with \\, \" and \n; HELP text with \\ and
// \n only. Floats are written in Go's shortest round-trip form ('g', -1) or as
// +Inf, -Inf and NaN. A histogram x writes cumulative x_bucket lines in
// increasing le order ending with le="+Inf", then x_sum and x_count, where the
// count is derived from the same bucket counts read for that exposition, so
// le="+Inf" always equals x_count even under concurrent [Histogram.Observe].
//
// Label values are arbitrary UTF-8; invalid UTF-8 sequences are replaced with
// U+FFFD before a series is looked up, so two values that would print alike
// name one series.
//
// Its tests, and the server's, check the output with package
// promtext/promtexttest, a strict checker of the format: it enforces every
// rule above and the ones promtool does not (duplicate series, histogram
// invariants, families that are interrupted).
//
// # Definition errors
//
// Defining a metric wrongly is a programming error, so the New* methods and
// the With methods panic, like [regexp.MustCompile], when:
//   - a metric or label name is not valid ([a-zA-Z_:][a-zA-Z0-9_:]* for
//     metrics, [a-zA-Z_][a-zA-Z0-9_]* for labels), or a label name starts with
//     the reserved "__" or repeats;
//   - a family's name, or one of the sample names it writes (a histogram x
//     also writes x_bucket, x_sum and x_count), is already used in the registry;
//   - the help text is empty, or a counter's name does not end in "_total"
//     (both are promtool lint failures);
//   - a histogram has a label named "le", or its buckets are not strictly
//     increasing or include NaN;
//   - With receives a different number of label values than the vector has
//     label names (a callback's emit function likewise, at scrape time);
//   - [Counter.Add] receives a negative value or NaN.
//
// # Cardinality
//
// A vector's SetMaxSeries(n) caps the number of label sets it keeps: once n
// series exist, further new label sets are folded into one overflow series
// whose label values are all "other". So a vector holds at most n+1 series,
// and labels fed from user input (collection names) cannot grow the
// exposition without bound.
//
// # Concurrency
//
// Every type in this package is safe for concurrent use. Counter.Inc,
// Counter.Add, the Gauge setters and Histogram.Observe are lock-free (atomic
// operations only). With on an existing label set takes a read lock and does
// not allocate; creating a series takes the vector's write lock. WriteTo may
// run concurrently with all of them and with other WriteTo calls; callbacks
// registered with the *Func methods are called during WriteTo, one exposition
// at a time, and must not call back into the registry.
//
// # Performance
//
// Each series renders its name and label text once, when it is created.
// Writing then only copies those bytes and appends numbers with strconv into
// a buffer the registry keeps between expositions, so a steady-state
// exposition does not allocate at all.
package promtext
