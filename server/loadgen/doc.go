// Package loadgen is the load generator behind `amaters-server bench`: it
// measures a running server (or, for comparisons in bench/peers, a bare
// net/http handler or etcd's JSON gateway) over HTTP, and reports
// throughput, latency quantiles and errors ([Result]).
//
// # Design
//
// Run drives a server in a closed loop: each of Clients goroutines sends
// one request, waits for the whole answer, records the latency and sends the
// next, over persistent connections, until the duration or request bound,
// or the context, ends the run. Latencies go into one Histogram per
// goroutine (a fixed array, so recording never allocates and never
// contends); the histograms are merged once at the end.
//
// Time is read through Options.Now, once per request: the end of one
// request is the start of the next, so a fake clock in tests drives the
// duration bound and the progress line without a timer or a sleep. The
// deadline is checked between requests and never interrupts one in flight;
// a request that hangs is bounded by the client options' Timeout and by
// ctx.
//
// Plain-http requests go over httpConn, a minimal HTTP/1.1 client of its
// own (one write per request, answers parsed from a bufio.Reader, no
// allocation per request), because the generator shares the machine with
// the server it measures and net/http's client costs about three times as
// much CPU per request; https goes through a tuned net/http Transport.
//
// The options' Client carries the same authentication and TLS settings as
// the other client commands (package server/client).
//
// # Concurrency
//
// [Run] may be called concurrently; a [Histogram] is not safe for
// concurrent use.
package loadgen
