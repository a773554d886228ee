// Package promtexttest checks a Prometheus text exposition (format 0.0.4)
// strictly: what tests of package promtext, of the server's /metrics and
// of the bench comparisons assert their output against. [Check] is
// stricter than promtool check metrics: it also enforces the structure of
// families, histograms and summaries, and reports every problem with its
// line ([*LineError], wrapping [ErrInvalid]).
//
// It is a package of its own because only tests use it: the product's
// binary never parses an exposition.
//
// # Concurrency
//
// Check is safe for concurrent use.
package promtexttest
