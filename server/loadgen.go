package server

// The load generator behind `amaters-server bench` (issue 9).
//
// RunLoad drives a server in a closed loop: each of Clients goroutines sends
// one request, waits for the whole answer, records the latency and sends the
// next, over persistent connections, until the duration or request bound,
// or the context, ends the run. Latencies go into one LatencyHistogram per
// goroutine (a fixed array, so recording never allocates and never
// contends); the histograms are merged once at the end.
//
// Time is read through LoadOptions.Now, once per request: the end of one
// request is the start of the next, so a fake clock in tests drives the
// duration bound and the progress line without a timer or a sleep. The
// deadline is checked between requests and never interrupts one in flight;
// a request that hangs is bounded by ClientOptions.Timeout and by ctx.
//
// Plain-http requests go over loadConn, a minimal HTTP/1.1 client of its
// own (one write per request, answers parsed from a bufio.Reader, no
// allocation per request), because the generator shares the machine with
// the server it measures and net/http's client costs about three times as
// much CPU per request; https goes through a tuned net/http Transport.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"amaters-server/server/client"
)

// Load targets: what speaks at LoadOptions.Addr.
const (
	// TargetAmaters is amaters-server's API (API.md §3).
	TargetAmaters = "amaters"
	// TargetBare is the bare net/http handler of bench/loadcheck/bare: the
	// same paths as amaters-server; GET answers a fixed body, PUT discards
	// it, and it has no batch endpoint, so nothing is preloaded.
	TargetBare = "bare"
	// TargetEtcd is etcd's v3 JSON gateway: POST /v3/kv/put, /v3/kv/range and
	// /v3/kv/txn with base64 keys and values.
	TargetEtcd = "etcd"
)

// Workload kinds, the Kind of a parsed Workload.
const (
	WorkloadGet   = "get"   // GET of one key
	WorkloadPut   = "put"   // PUT of one key
	WorkloadMixed = "mixed" // GET or PUT, ReadPercent of them GET
	WorkloadRange = "range" // a range page of 10 items from a random key
	WorkloadBatch = "batch" // an atomic batch of BatchSize sets
)

// Workload is a parsed workload name; see [ParseWorkload]. The zero value
// is not a valid workload.
type Workload struct {
	// Kind is one of WorkloadGet, WorkloadPut, WorkloadMixed, WorkloadRange
	// and WorkloadBatch.
	Kind string
	// ReadPercent is the share of reads in percent: 100 for get and range,
	// 0 for put and batch, R for mixed:R/W.
	ReadPercent int
}

// String returns the canonical name, which ParseWorkload accepts.
func (w Workload) String() string {
	if w.Kind == WorkloadMixed {
		return fmt.Sprintf("mixed:%d/%d", w.ReadPercent, 100-w.ReadPercent)
	}
	return w.Kind
}

// preloads reports whether the workload reads keys, so that they must exist
// before the run.
func (w Workload) preloads() bool {
	return w.Kind == WorkloadGet || w.Kind == WorkloadRange || (w.Kind == WorkloadMixed && w.ReadPercent > 0)
}

// ParseWorkload parses a workload name: "get", "put", "range", "batch", or
// "mixed:R/W" with whole percentages R of reads and W of writes that sum to
// 100 ("mixed:90/10").
func ParseWorkload(s string) (Workload, error) {
	switch s {
	case WorkloadGet, WorkloadRange:
		return Workload{Kind: s, ReadPercent: 100}, nil
	case WorkloadPut, WorkloadBatch:
		return Workload{Kind: s}, nil
	case "":
		return Workload{}, errors.New("workload is empty: want get, put, mixed:R/W (e.g. mixed:90/10), range or batch")
	case WorkloadMixed:
		return Workload{}, errors.New(`workload "mixed" needs its read/write split in percent, e.g. mixed:90/10`)
	}
	split, ok := strings.CutPrefix(s, WorkloadMixed+":")
	if !ok {
		return Workload{}, fmt.Errorf("unknown workload %q: want get, put, mixed:R/W (e.g. mixed:90/10), range or batch", s)
	}
	rs, ws, ok := strings.Cut(split, "/")
	r, rerr := parseLoadPercent(rs)
	w, werr := parseLoadPercent(ws)
	switch {
	case !ok || rerr != nil || werr != nil:
		return Workload{}, fmt.Errorf("workload %q: want mixed:R/W with R and W whole percentages, e.g. mixed:90/10", s)
	case r+w != 100:
		return Workload{}, fmt.Errorf("workload %q: reads and writes must sum to 100 percent, not %d", s, r+w)
	}
	return Workload{Kind: WorkloadMixed, ReadPercent: r}, nil
}

// parseLoadPercent parses 0..100 written in plain decimal digits.
func parseLoadPercent(s string) (int, error) {
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("not a percentage")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 100 {
		return 0, errors.New("not a percentage")
	}
	return n, nil
}

// LoadOptions configure [RunLoad]. A zero field means its default, so the
// zero value loads 127.0.0.1:7878 with 64 clients for 10 s of GETs.
type LoadOptions struct {
	// Addr is the server: "HOST:PORT" or an http(s):// URL, as for
	// [client.New]. Default 127.0.0.1:7878.
	Addr string
	// AddrExplicit says the user named Addr. Without it, RunLoad refuses a
	// target that is not on a loopback address, so that a default or an
	// inherited setting never sends load to a shared server by surprise.
	AddrExplicit bool
	// Client carries the authentication and TLS settings (token, API key,
	// CA, client certificate), exactly as for the status and stop commands.
	// Its Timeout bounds each request (default 10 s; over net/http, the
	// wait for the answer's headers). Its Retry policy is not used: a
	// failed request is counted, not retried, except once when a kept-alive
	// connection turns out to be closed before the request reached the
	// server (as net/http does too).
	Client client.Options
	// Target says what speaks at Addr: TargetAmaters (default), TargetBare
	// or TargetEtcd.
	Target string

	// Clients is the number of concurrent connections, each with one
	// request in flight. Default 64.
	Clients int
	// Duration and Requests bound the run; it stops at whichever comes
	// first. Both zero means 10 s. Requests counts every request sent,
	// answered or failed, and is never exceeded.
	Duration time.Duration
	Requests int

	// Workload is a name for [ParseWorkload]. Default "get".
	Workload string
	// Keys is the size of the key space: keys key-00000000 .. key-<Keys-1>,
	// drawn uniformly. Default 100000.
	Keys int
	// ValueSize is the size of every written value in bytes. Default 100.
	ValueSize int
	// Collection is the collection used. Default "bench".
	Collection string
	// BatchSize is the number of sets per request of the batch workload.
	// Default 100.
	BatchSize int

	// Progress, when not nil, receives a line on the preload, then a live
	// line once per second of the run (elapsed, ops, ops/s over the last
	// second), rewritten in place with \r and ended, with the average, by
	// a newline when the run ends. Meant for a terminal (stderr); nil
	// prints nothing.
	Progress io.Writer
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
	// UseNetHTTP sends plain-http requests through net/http's client too,
	// instead of the load generator's own lighter HTTP/1.1 (see loadConn);
	// https always goes through net/http. For cross-checks.
	UseNetHTTP bool
}

// Defaults of LoadOptions.
const (
	defaultLoadAddr       = "127.0.0.1:7878"
	defaultLoadClients    = 64
	defaultLoadDuration   = 10 * time.Second
	defaultLoadKeys       = 100000
	defaultLoadValueSize  = 100
	defaultLoadCollection = "bench"
	defaultLoadBatchSize  = 100
	// preloadWorkers write the key set concurrently before the run.
	preloadWorkers = 4
	// preloadChunk is the number of sets per preload batch request; etcd's
	// default --max-txn-ops is 128, hence its smaller chunk.
	preloadChunk     = 1000
	preloadChunkEtcd = 100
	// rangeLimit is the page size of the range workload.
	rangeLimit = 10
)

func (o LoadOptions) withDefaults() LoadOptions {
	if o.Addr == "" {
		o.Addr = defaultLoadAddr
	}
	if o.Target == "" {
		o.Target = TargetAmaters
	}
	if o.Clients == 0 {
		o.Clients = defaultLoadClients
	}
	if o.Duration == 0 && o.Requests == 0 {
		o.Duration = defaultLoadDuration
	}
	if o.Workload == "" {
		o.Workload = WorkloadGet
	}
	if o.Keys == 0 {
		o.Keys = defaultLoadKeys
	}
	if o.ValueSize == 0 {
		o.ValueSize = defaultLoadValueSize
	}
	if o.Collection == "" {
		o.Collection = defaultLoadCollection
	}
	if o.BatchSize == 0 {
		o.BatchSize = defaultLoadBatchSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate checks the options after defaults are applied and returns every
// problem at once, so a command line can tell bad flags (Validate fails)
// from a failed run (RunLoad fails) before any request is sent.
func (o LoadOptions) Validate() error {
	o = o.withDefaults()
	var errs []error
	if _, err := ParseWorkload(o.Workload); err != nil {
		errs = append(errs, err)
	}
	switch o.Target {
	case TargetAmaters, TargetBare, TargetEtcd:
	default:
		errs = append(errs, fmt.Errorf("unknown target %q: want amaters, bare or etcd", o.Target))
	}
	if o.Clients < 0 {
		errs = append(errs, fmt.Errorf("clients %d: must be at least 1", o.Clients))
	}
	if o.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration %v: must not be negative", o.Duration))
	}
	if o.Requests < 0 {
		errs = append(errs, fmt.Errorf("requests %d: must not be negative", o.Requests))
	}
	if o.Keys < 0 {
		errs = append(errs, fmt.Errorf("keys %d: must be at least 1", o.Keys))
	}
	if o.ValueSize < 0 {
		errs = append(errs, fmt.Errorf("value size %d: must not be negative", o.ValueSize))
	}
	if o.BatchSize < 0 || o.BatchSize > maxBatchOps {
		errs = append(errs, fmt.Errorf("batch size %d: must be 1..%d", o.BatchSize, maxBatchOps))
	}
	if !validCollection(o.Collection) {
		errs = append(errs, fmt.Errorf("collection name %q must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", o.Collection))
	}
	if strings.ContainsAny(o.Client.Token+o.Client.APIKey+o.Client.APIKeyHeader, "\r\n") {
		errs = append(errs, errors.New("the token, API key and API key header must not contain line breaks"))
	}
	host, err := loadHost(o.Addr)
	switch {
	case err != nil:
		errs = append(errs, err)
	case !o.AddrExplicit && !loadLoopback(host):
		errs = append(errs, fmt.Errorf("refusing to load %s, which is not a loopback address, without being told: pass --addr %s to confirm", o.Addr, o.Addr))
	}
	return errors.Join(errs...)
}

// loadHost returns the host part of an address as client.New accepts it.
func loadHost(addr string) (string, error) {
	hostPort := addr
	if rest, ok := strings.CutPrefix(addr, "https://"); ok {
		hostPort = rest
	} else if rest, ok := strings.CutPrefix(addr, "http://"); ok {
		hostPort = rest
	} else if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("address %q is not HOST:PORT", addr)
	}
	hostPort, _, _ = strings.Cut(hostPort, "/")
	if host, _, err := net.SplitHostPort(hostPort); err == nil {
		return host, nil
	}
	return strings.Trim(hostPort, "[]"), nil
}

// loadLoopback reports whether host is "localhost" or a loopback IP. Other
// names are not resolved: a name is treated as remote.
func loadLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LatencySummary is the latency distribution of a run. In JSON every field
// is a float number of milliseconds: p50_ms, p90_ms, p99_ms, p999_ms,
// max_ms, mean_ms.
type LatencySummary struct {
	P50, P90, P99, P999, Max, Mean time.Duration
}

// MarshalJSON writes the durations as float milliseconds.
func (s LatencySummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		P50  float64 `json:"p50_ms"`
		P90  float64 `json:"p90_ms"`
		P99  float64 `json:"p99_ms"`
		P999 float64 `json:"p999_ms"`
		Max  float64 `json:"max_ms"`
		Mean float64 `json:"mean_ms"`
	}{loadMillis(s.P50), loadMillis(s.P90), loadMillis(s.P99), loadMillis(s.P999), loadMillis(s.Max), loadMillis(s.Mean)})
}

// loadMillis converts a duration to float milliseconds.
func loadMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// LoadResult is the outcome of [RunLoad]. Its JSON form (MarshalJSON) has
// the fields workload, target, addr, clients, keys, value_size,
// preloaded_keys, ops, errors, errors_by_status (status code as a string →
// count), transport_errors, first_error (omitted when empty), elapsed_ms,
// ops_per_sec and latency ([LatencySummary]).
type LoadResult struct {
	Workload  string // canonical workload name
	Target    string
	Addr      string
	Clients   int
	Keys      int
	ValueSize int
	// Preloaded is the number of keys written before the run.
	Preloaded int
	// Ops counts the requests answered 2xx. A batch request is one op
	// (of BatchSize sets).
	Ops int64
	// Errors counts failed requests: non-2xx answers, by status in
	// ErrorsByStatus, and transport failures in TransportErrors. Requests
	// cut off by the end of ctx are counted nowhere. Ops+Errors requests
	// were sent.
	Errors          int64
	ErrorsByStatus  map[int]int64
	TransportErrors int64
	// FirstError describes the first failure, for the human to start from.
	FirstError string
	// Elapsed is the time from the first request to the last answer.
	Elapsed   time.Duration
	OpsPerSec float64
	// Latency summarizes the time of each successful request, from before
	// it was sent to after its body was read.
	Latency LatencySummary
}

// MarshalJSON writes the result with snake_case names and durations in
// float milliseconds; see [LoadResult].
func (r LoadResult) MarshalJSON() ([]byte, error) {
	byStatus := make(map[string]int64, len(r.ErrorsByStatus))
	for status, n := range r.ErrorsByStatus {
		byStatus[strconv.Itoa(status)] = n
	}
	return json.Marshal(struct {
		Workload        string           `json:"workload"`
		Target          string           `json:"target"`
		Addr            string           `json:"addr"`
		Clients         int              `json:"clients"`
		Keys            int              `json:"keys"`
		ValueSize       int              `json:"value_size"`
		Preloaded       int              `json:"preloaded_keys"`
		Ops             int64            `json:"ops"`
		Errors          int64            `json:"errors"`
		ErrorsByStatus  map[string]int64 `json:"errors_by_status"`
		TransportErrors int64            `json:"transport_errors"`
		FirstError      string           `json:"first_error,omitempty"`
		Elapsed         float64          `json:"elapsed_ms"`
		OpsPerSec       float64          `json:"ops_per_sec"`
		Latency         LatencySummary   `json:"latency"`
	}{r.Workload, r.Target, r.Addr, r.Clients, r.Keys, r.ValueSize, r.Preloaded, r.Ops, r.Errors,
		byStatus, r.TransportErrors, r.FirstError, loadMillis(r.Elapsed), r.OpsPerSec, r.Latency})
}

// WriteHuman writes the result as a few aligned lines for a terminal.
func (r LoadResult) WriteHuman(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "workload   %s on %s at %s (%d clients, %d keys, %d-byte values", r.Workload, r.Target, r.Addr, r.Clients, r.Keys, r.ValueSize)
	if r.Preloaded > 0 {
		fmt.Fprintf(&b, ", %d preloaded", r.Preloaded)
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "elapsed    %.2f s\n", r.Elapsed.Seconds())
	fmt.Fprintf(&b, "ops        %d (%.1f ops/s)\n", r.Ops, r.OpsPerSec)
	fmt.Fprintf(&b, "errors     %d", r.Errors)
	if r.Errors > 0 {
		var parts []string
		for _, status := range slices.Sorted(maps.Keys(r.ErrorsByStatus)) {
			parts = append(parts, fmt.Sprintf("%d: %d", status, r.ErrorsByStatus[status]))
		}
		if r.TransportErrors > 0 {
			parts = append(parts, fmt.Sprintf("transport: %d", r.TransportErrors))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	if r.FirstError != "" {
		fmt.Fprintf(&b, "first      %s\n", r.FirstError)
	}
	l := r.Latency
	fmt.Fprintf(&b, "latency    p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, mean %.3f ms\n",
		loadMillis(l.P50), loadMillis(l.P90), loadMillis(l.P99), loadMillis(l.P999), loadMillis(l.Max), loadMillis(l.Mean))
	_, err := io.WriteString(w, b.String())
	return err
}

// RunLoad preloads the key set when the workload reads (get, mixed, range;
// with POST /v1/batch, or etcd transactions, in chunks by a few workers),
// then runs the closed loop until the duration or request bound, or ctx,
// ends it. It returns the options' problems (see [LoadOptions.Validate])
// and preload failures as errors. Failed requests during the run are not
// errors of RunLoad: they are counted in the result. If ctx ends during the
// run, RunLoad returns the partial result together with ctx.Err().
func RunLoad(ctx context.Context, o LoadOptions) (LoadResult, error) {
	if err := o.Validate(); err != nil {
		return LoadResult{}, err
	}
	o = o.withDefaults()
	wl, _ := ParseWorkload(o.Workload)
	c, err := client.New(o.Addr, o.Client)
	if err != nil {
		return LoadResult{}, err
	}
	r := newLoadRun(o, wl, c)
	defer r.transport.CloseIdleConnections()

	res := LoadResult{Workload: wl.String(), Target: o.Target, Addr: o.Addr, Clients: o.Clients, Keys: o.Keys, ValueSize: o.ValueSize}
	if wl.preloads() && o.Target != TargetBare {
		t0 := o.Now()
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "preloading %d keys ...", o.Keys)
		}
		if err := r.preload(ctx); err != nil {
			if o.Progress != nil {
				io.WriteString(o.Progress, "\n")
			}
			return res, err
		}
		res.Preloaded = o.Keys
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "\rpreloaded %d keys in %.1f s\n", o.Keys, o.Now().Sub(t0).Seconds())
		}
	}

	start := o.Now()
	r.start = start
	if o.Duration > 0 {
		r.deadline = start.Add(o.Duration)
	}
	r.nextProgress.Store(int64(time.Second))
	var wg sync.WaitGroup
	for i := range r.clients {
		wg.Go(func() { r.loop(ctx, i) })
	}
	wg.Wait()
	res.Elapsed = o.Now().Sub(start)
	if o.Progress != nil && r.printed.Load() {
		fmt.Fprintf(o.Progress, "\r%7.1f s %12d ops %10.0f ops/s average\n", res.Elapsed.Seconds(), r.done.Load(), float64(r.done.Load())/res.Elapsed.Seconds())
	}

	var h LatencyHistogram
	res.ErrorsByStatus = map[int]int64{}
	for i := range r.clients {
		cs := &r.clients[i]
		h.Merge(&cs.hist)
		res.Ops += cs.ok
		res.TransportErrors += cs.transportErrs
		for status, n := range cs.byStatus {
			res.ErrorsByStatus[status] += n
		}
		if res.FirstError == "" {
			res.FirstError = cs.firstErr
		}
	}
	res.Errors = res.TransportErrors
	for _, n := range res.ErrorsByStatus {
		res.Errors += n
	}
	if res.Elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / res.Elapsed.Seconds()
	}
	res.Latency = h.Summary()
	return res, ctx.Err()
}

// loadRun is the state of one RunLoad.
type loadRun struct {
	o  LoadOptions
	wl Workload

	// base is scheme://host:port with no trailing slash; hostPort its
	// HOST:PORT. raw says requests go over loadConn's own HTTP/1.1 (plain
	// http with no path prefix, and not UseNetHTTP), else through hc.
	base, hostPort string
	raw            bool
	timeout        time.Duration // per request, for an answer's headers
	header         http.Header   // of every GET and PUT: authentication
	jsonHeader     http.Header   // header plus Content-Type: application/json, for POST
	// rawHeader and rawJSONHeader are the same as header lines for loadConn,
	// Host first.
	rawHeader, rawJSONHeader []byte
	transport                *http.Transport
	hc                       *http.Client

	value   []byte // every written value; read-only during the run
	value64 string // value in base64

	// keysPath is "/v1/collections/{c}/keys/key-", rangePath
	// "/v1/collections/{c}/range?limit=10&start=key-".
	keysPath, rangePath string

	start    time.Time
	deadline time.Time // zero: no duration bound
	issued   atomic.Int64
	done     atomic.Int64 // answered requests, for the progress line

	// progressMu is held by the one client printing the progress line;
	// nextProgress (nanoseconds since start) and lastOps/lastAt (the
	// previous line's count and time) say when and from what.
	progressMu   sync.Mutex
	nextProgress atomic.Int64
	lastOps      int64
	lastAt       time.Duration
	printed      atomic.Bool

	clients []loadClient
}

// loadClient is the per-goroutine state, written only by its goroutine
// until the run ends.
type loadClient struct {
	hist          LatencyHistogram
	ok            int64
	transportErrs int64
	byStatus      map[int]int64
	firstErr      string
}

func newLoadRun(o LoadOptions, wl Workload, c *client.Client) *loadRun {
	copts := c.Options()
	tr := c.Transport()
	// One persistent connection per client: keep as many idle as there
	// are clients (the preload workers reuse them), and ask for no gzip,
	// as curl and most clients do not.
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = o.Clients + preloadWorkers
	tr.DisableCompression = true
	tr.ResponseHeaderTimeout = copts.Timeout
	r := &loadRun{
		o:         o,
		wl:        wl,
		base:      c.URL(),
		hostPort:  c.HostPort(),
		raw:       strings.HasPrefix(c.URL(), "http://") && !strings.Contains(c.URL()[len("http://"):], "/") && !o.UseNetHTTP,
		timeout:   copts.Timeout,
		header:    http.Header{},
		transport: tr,
		hc:        &http.Client{Transport: tr},
		value:     loadValue(o.ValueSize),
		clients:   make([]loadClient, o.Clients),
	}
	r.value64 = base64.StdEncoding.EncodeToString(r.value)
	if copts.Token != "" {
		r.header.Set("Authorization", "Bearer "+copts.Token)
	}
	if copts.APIKey != "" {
		r.header.Set(copts.APIKeyHeader, copts.APIKey)
	}
	r.jsonHeader = r.header.Clone()
	r.jsonHeader.Set("Content-Type", "application/json")
	r.rawHeader = fmt.Appendf(nil, "Host: %s\r\nUser-Agent: amaters-server-bench\r\n", strings.TrimPrefix(c.URL(), "http://"))
	for _, name := range slices.Sorted(maps.Keys(r.header)) {
		r.rawHeader = fmt.Appendf(r.rawHeader, "%s: %s\r\n", name, r.header.Get(name))
	}
	r.rawJSONHeader = append(slices.Clip(r.rawHeader), "Content-Type: application/json\r\n"...)
	r.keysPath = "/v1/collections/" + o.Collection + "/keys/key-"
	r.rangePath = "/v1/collections/" + o.Collection + "/range?limit=" + strconv.Itoa(rangeLimit) + "&start=key-"
	for i := range r.clients {
		r.clients[i].byStatus = map[int]int64{}
	}
	return r
}

// loadValue returns n bytes of printable, not very compressible filler.
func loadValue(n int) []byte {
	v := make([]byte, n)
	x := uint32(2463534242)
	for i := range v {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		v[i] = 'a' + byte(x%26)
	}
	return v
}

// loadAppendKey appends the key "key-%08d" of index i.
func loadAppendKey(b []byte, i int) []byte {
	b = append(b, "key-"...)
	return loadAppendDigits(b, i)
}

// loadAppendDigits appends i zero-padded to at least 8 digits.
func loadAppendDigits(b []byte, i int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(i), 10)
	for range 8 - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// loadAppendKey64 appends the base64 of key i.
func loadAppendKey64(b []byte, i int) []byte {
	var k [32]byte
	return base64.StdEncoding.AppendEncode(b, loadAppendKey(k[:0], i))
}

// preload writes keys 0..Keys-1 with preloadWorkers concurrent batch
// requests.
func (r *loadRun) preload(ctx context.Context) error {
	chunk := preloadChunk
	path := []byte("/v1/batch")
	if r.o.Target == TargetEtcd {
		chunk = preloadChunkEtcd
		path = []byte("/v3/kv/txn")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	errs := make([]error, preloadWorkers)
	var wg sync.WaitGroup
	for w := range preloadWorkers {
		wg.Go(func() {
			lc := r.newConn(ctx)
			defer lc.close()
			var body []byte
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= r.o.Keys || ctx.Err() != nil {
					return
				}
				hi := min(lo+chunk, r.o.Keys)
				body = r.appendBatch(body[:0], lo, hi, nil)
				status, msg, err := lc.send(ctx, http.MethodPost, path, body)
				if err == nil && status/100 != 2 {
					err = fmt.Errorf("status %d: %s", status, msg)
				}
				if err != nil {
					errs[w] = fmt.Errorf("preload keys %d..%d: %w", lo, hi-1, err)
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// appendBatch appends a batch request body that sets keys lo..hi-1, or,
// when rng is not nil, hi-lo random keys: an amaters-server batch, or an
// etcd transaction of puts.
func (r *loadRun) appendBatch(b []byte, lo, hi int, rng *rand.Rand) []byte {
	etcd := r.o.Target == TargetEtcd
	if etcd {
		b = append(b, `{"success":[`...)
	} else {
		b = append(b, `{"ops":[`...)
	}
	for i := lo; i < hi; i++ {
		if i > lo {
			b = append(b, ',')
		}
		k := i
		if rng != nil {
			k = rng.IntN(r.o.Keys)
		}
		if etcd {
			b = append(b, `{"requestPut":{"key":"`...)
		} else {
			b = append(b, `{"op":"set","collection":"`...)
			b = append(b, r.o.Collection...)
			b = append(b, `","key":"`...)
		}
		b = loadAppendKey64(b, k)
		b = append(b, `","value":"`...)
		b = append(b, r.value64...)
		b = append(b, `"}`...)
		if etcd {
			b = append(b, '}')
		}
	}
	return append(b, "]}"...)
}

// loop is client i's closed loop.
func (r *loadRun) loop(ctx context.Context, i int) {
	cs := &r.clients[i]
	lc := r.newConn(ctx)
	defer lc.close()
	// A fixed seed per client: the same options draw the same keys.
	rng := rand.New(rand.NewPCG(uint64(i)+1, 0x9e3779b97f4a7c15))
	var path, body []byte
	t0 := r.o.Now()
	for ctx.Err() == nil {
		if !r.deadline.IsZero() && !t0.Before(r.deadline) {
			return
		}
		if r.o.Requests > 0 && r.issued.Add(1) > int64(r.o.Requests) {
			return
		}
		var method string
		method, path, body = r.nextRequest(path[:0], body[:0], rng)
		status, msg, err := lc.send(ctx, method, path, body)
		t1 := r.o.Now()
		switch {
		case err != nil && ctx.Err() != nil:
			return // cut off by the caller: not an answer, not an error
		case err != nil:
			cs.transportErrs++
			if cs.firstErr == "" {
				cs.firstErr = fmt.Sprintf("%s %s: %v", method, path, err)
			}
		case status/100 != 2:
			cs.byStatus[status]++
			if cs.firstErr == "" {
				cs.firstErr = fmt.Sprintf("%s %s: status %d: %s", method, path, status, msg)
			}
		default:
			cs.ok++
			cs.hist.Record(t1.Sub(t0))
		}
		r.done.Add(1)
		r.maybeProgress(t1.Sub(r.start))
		t0 = t1
	}
}

// nextRequest draws the next request, building its path (with the query)
// and body in the given buffers, which it returns for reuse.
func (r *loadRun) nextRequest(path, body []byte, rng *rand.Rand) (method string, _, _ []byte) {
	kind := r.wl.Kind
	if kind == WorkloadMixed {
		kind = WorkloadPut
		if rng.IntN(100) < r.wl.ReadPercent {
			kind = WorkloadGet
		}
	}
	k := rng.IntN(r.o.Keys)
	if r.o.Target == TargetEtcd {
		return r.nextEtcdRequest(path, body, kind, k, rng)
	}
	switch kind {
	case WorkloadGet:
		return http.MethodGet, loadAppendDigits(append(path, r.keysPath...), k), nil
	case WorkloadPut:
		return http.MethodPut, loadAppendDigits(append(path, r.keysPath...), k), r.value
	case WorkloadRange:
		return http.MethodGet, loadAppendDigits(append(path, r.rangePath...), k), nil
	default: // WorkloadBatch
		return http.MethodPost, append(path, "/v1/batch"...), r.appendBatch(body, 0, r.o.BatchSize, rng)
	}
}

// nextEtcdRequest is nextRequest for etcd's JSON gateway.
func (r *loadRun) nextEtcdRequest(path, body []byte, kind string, k int, rng *rand.Rand) (method string, _, _ []byte) {
	switch kind {
	case WorkloadGet, WorkloadRange:
		body = loadAppendKey64(append(body, `{"key":"`...), k)
		if kind == WorkloadRange {
			// range_end "\x00" means every key from key on.
			body = append(body, `","range_end":"AA==","limit":`+strconv.Itoa(rangeLimit)+`}`...)
		} else {
			body = append(body, `"}`...)
		}
		return http.MethodPost, append(path, "/v3/kv/range"...), body
	case WorkloadPut:
		body = loadAppendKey64(append(body, `{"key":"`...), k)
		body = append(body, `","value":"`...)
		body = append(body, r.value64...)
		body = append(body, `"}`...)
		return http.MethodPost, append(path, "/v3/kv/put"...), body
	default: // WorkloadBatch
		return http.MethodPost, append(path, "/v3/kv/txn"...), r.appendBatch(body, 0, r.o.BatchSize, rng)
	}
}

// loadConn is one client's connection: a plain TCP connection speaking
// HTTP/1.1 itself, or net/http's transport (for TLS, HTTP/2 and
// UseNetHTTP).
//
// The load generator shares the machine with the server it measures, so
// its cost per request is part of every number it reports. net/http's
// client spends several goroutine hand-offs and about 25 µs of CPU per
// request on a 2-core machine, as much as a bare net/http server spends
// answering; a closed loop over one connection needs none of that: it
// writes the request in one write(2) and parses the answer from a
// bufio.Reader, like wrk. Its HTTP/1.1 is what a load generator needs
// (Content-Length and chunked bodies, close-delimited bodies,
// Connection: close, and one retry when the server closed a kept-alive
// connection), not a general client.
type loadConn struct {
	r    *loadRun
	conn net.Conn // nil until dialled, and after a failure
	br   *bufio.Reader
	wbuf []byte
	// reused says conn has served a request, so a failure before any byte
	// of the answer may be the server closing an idle connection.
	reused bool
	// stopCancel removes the hook that unblocks conn when ctx ends.
	stopCancel func() bool
	ctx        context.Context
}

// loadMaxLine bounds a status, header or chunk-size line.
const loadMaxLine = 64 << 10

func (r *loadRun) newConn(ctx context.Context) *loadConn {
	return &loadConn{r: r, ctx: ctx, br: bufio.NewReaderSize(nil, 16<<10)}
}

// close closes the connection, if any.
func (c *loadConn) close() {
	if c.conn != nil {
		c.stopCancel()
		c.conn.Close()
		c.conn = nil
	}
}

// send sends one request and reads the whole answer, so the connection can
// be reused. It returns the status, and for a non-2xx answer the start of
// its body. body, when not nil, is sent with Content-Length (also when
// empty, for a PUT of an empty value).
func (c *loadConn) send(ctx context.Context, method string, path, body []byte) (int, string, error) {
	if !c.r.raw {
		return c.sendNetHTTP(ctx, method, path, body)
	}
	status, msg, retry, err := c.sendRaw(method, path, body)
	if err != nil && retry && ctx.Err() == nil {
		// The server closed a kept-alive connection before this request
		// reached it (idle timeout): try once more on a new one.
		status, msg, _, err = c.sendRaw(method, path, body)
	}
	return status, msg, err
}

// sendRaw is one attempt of send over the connection's own HTTP/1.1.
// retry says the attempt failed on a reused connection before any byte of
// an answer came, so the request may be sent again.
func (c *loadConn) sendRaw(method string, path, body []byte) (status int, msg string, retry bool, err error) {
	if c.conn == nil {
		d := net.Dialer{Timeout: c.r.timeout}
		conn, err := d.DialContext(c.ctx, "tcp", c.r.hostPort)
		if err != nil {
			return 0, "", false, err
		}
		c.conn, c.reused = conn, false
		c.stopCancel = context.AfterFunc(c.ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		c.br.Reset(conn)
	}
	reused := c.reused
	b := append(c.wbuf[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\n"...)
	if method == http.MethodPost {
		b = append(b, c.r.rawJSONHeader...)
	} else {
		b = append(b, c.r.rawHeader...)
	}
	if body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.wbuf = b
	if err := c.conn.SetDeadline(time.Now().Add(c.r.timeout)); err != nil {
		c.close()
		return 0, "", false, err
	}
	if _, err := c.conn.Write(b); err != nil {
		c.close()
		return 0, "", reused, err
	}
	status, msg, keep, got, err := c.readAnswer(method)
	if err != nil {
		c.close()
		return 0, "", reused && !got, err
	}
	c.reused = true
	if !keep {
		c.close()
	}
	return status, msg, false, nil
}

// readAnswer reads one answer: its status, the start of its body when it
// is not 2xx, whether the connection stays open, and whether any byte came.
// A 2xx answer costs no allocation.
func (c *loadConn) readAnswer(method string) (status int, msg string, keep, got bool, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, "", false, len(line) > 0, err
	}
	// "HTTP/1.1 200 OK"
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	code, _, _ := bytes.Cut(rest, []byte(" "))
	status, err = strconv.Atoi(string(code))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(code) != 3 || err != nil {
		return 0, "", false, true, fmt.Errorf("malformed status line %q", line)
	}
	keep = string(proto) != "HTTP/1.0"
	length, chunked := int64(-1), false
	for {
		line, err := c.readLine()
		if err != nil {
			return 0, "", false, true, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, "", false, true, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case loadEqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return 0, "", false, true, fmt.Errorf("bad Content-Length %q", value)
			}
			length = n
		case loadEqualFold(name, "Transfer-Encoding"):
			chunked = loadEqualFold(value, "chunked")
		case loadEqualFold(name, "Connection"):
			if loadEqualFold(value, "close") {
				keep = false
			} else if loadEqualFold(value, "keep-alive") {
				keep = true
			}
		}
	}
	if status >= 100 && status < 200 {
		// An interim answer (we never send Expect): the real one follows.
		return c.readAnswer(method)
	}
	var prefix *bytes.Buffer // the start of a non-2xx body
	if status/100 != 2 {
		prefix = new(bytes.Buffer)
	}
	switch {
	case method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified:
	case chunked:
		err = c.readChunked(prefix)
	case length >= 0:
		err = loadUnexpectedEOF(c.skip(length, prefix))
	default:
		// No length: the body runs to the end of the connection.
		err = c.skip(math.MaxInt64, prefix)
		if err == io.EOF {
			err = nil
		}
		keep = false
	}
	if err != nil {
		return 0, "", false, true, err
	}
	if prefix != nil {
		msg = strings.TrimSpace(prefix.String())
	}
	return status, msg, keep, true, nil
}

// loadErrorPrefix is how much of a non-2xx body is kept for the message.
const loadErrorPrefix = 256

// skip reads n bytes of body, keeping the first loadErrorPrefix of them in
// prefix when it is not nil. It returns io.EOF at the end of the
// connection.
func (c *loadConn) skip(n int64, prefix *bytes.Buffer) error {
	for n > 0 {
		if prefix != nil && prefix.Len() < loadErrorPrefix {
			p, err := c.br.Peek(int(min(n, int64(loadErrorPrefix-prefix.Len()))))
			prefix.Write(p)
			if _, derr := c.br.Discard(len(p)); derr != nil {
				err = derr
			}
			n -= int64(len(p))
			if err != nil {
				return err
			}
			continue
		}
		m, err := c.br.Discard(int(min(n, int64(c.br.Size()))))
		n -= int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}

// readChunked reads a chunked body and its trailer, keeping its start in
// prefix when it is not nil.
func (c *loadConn) readChunked(prefix *bytes.Buffer) error {
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailer lines, then an empty one
				line, err := c.readLine()
				if err != nil || len(line) == 0 {
					return err
				}
			}
		}
		if err := c.skip(n, prefix); err != nil {
			return loadUnexpectedEOF(err)
		}
		if line, err := c.readLine(); err != nil || len(line) != 0 {
			return loadFirstError(err, fmt.Errorf("chunk of %d bytes not followed by CRLF", n))
		}
	}
}

// loadUnexpectedEOF turns the end of the connection in the middle of a
// body into io.ErrUnexpectedEOF.
func loadUnexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// loadFirstError returns a if it is not nil, else b.
func loadFirstError(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// readLine reads one line without its CRLF (or LF). The slice is valid
// until the next read.
func (c *loadConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return line, fmt.Errorf("line longer than %d bytes", c.br.Size())
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return line, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// loadEqualFold reports whether b equals s, ignoring ASCII case.
func loadEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// sendNetHTTP is send through net/http.
func (c *loadConn) sendNetHTTP(ctx context.Context, method string, path, body []byte) (int, string, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.r.base+string(path), rd)
	if err != nil {
		return 0, "", err
	}
	// The header maps are shared by every client and only read: net/http
	// copies a request before it adds a header of its own.
	req.Header = c.r.header
	if method == http.MethodPost {
		req.Header = c.r.jsonHeader
	}
	resp, err := c.r.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, err := io.ReadAll(io.LimitReader(resp.Body, 256))
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(msg)), err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, "", err
}

// maybeProgress prints the progress line when a second has passed since the
// last one; one client prints, the others go on.
func (r *loadRun) maybeProgress(elapsed time.Duration) {
	if r.o.Progress == nil || int64(elapsed) < r.nextProgress.Load() || !r.progressMu.TryLock() {
		return
	}
	defer r.progressMu.Unlock()
	if int64(elapsed) < r.nextProgress.Load() {
		return
	}
	r.printProgressLocked(elapsed)
	r.nextProgress.Store(int64(elapsed.Truncate(time.Second) + time.Second))
}

// printProgressLocked prints the progress line; r.progressMu must be held.
func (r *loadRun) printProgressLocked(elapsed time.Duration) {
	ops := r.done.Load()
	rate := 0.0
	if d := elapsed - r.lastAt; d > 0 {
		rate = float64(ops-r.lastOps) / d.Seconds()
	}
	r.lastOps, r.lastAt = ops, elapsed
	fmt.Fprintf(r.o.Progress, "\r%7.1f s %12d ops %10.0f ops/s", elapsed.Seconds(), ops, rate)
	r.printed.Store(true)
}

// LatencyHistogram is a log-linear histogram of durations in the manner of
// HdrHistogram: values below 128 ns have a bucket of their own, and each
// power of two above is split into 128 equal buckets, so a bucket is at
// most 1/128 of its values wide and a quantile, reported at its bucket's
// middle, is off by at most 0.4 %. It spans 0 to 2³⁷ ns (137 s; longer
// values count as 137 s) in a fixed array of 3968 counters (31 KiB):
// Record never allocates.
//
// The zero value is an empty histogram. A LatencyHistogram is not safe for
// concurrent use: keep one per goroutine and Merge them.
type LatencyHistogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // buckets per power of two
	histMaxBits = 37               // values are below 2^histMaxBits ns
	histBuckets = histSub + (histMaxBits-histSubBits)*histSub
)

// histIndex returns the bucket of v, 0 <= v < 2^histMaxBits.
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1 // v>>shift is in [128, 256)
	return histSub + shift*histSub + int(v>>shift) - histSub
}

// histMid returns the middle of bucket i.
func histMid(i int) time.Duration {
	if i < histSub {
		return time.Duration(i)
	}
	shift := (i - histSub) / histSub
	m := uint64(histSub + (i-histSub)%histSub)
	return time.Duration(m<<shift + (uint64(1)<<shift)/2)
}

// Record adds one duration. A negative duration counts as 0.
func (h *LatencyHistogram) Record(d time.Duration) {
	d = max(d, 0)
	v := min(uint64(d), 1<<histMaxBits-1)
	h.counts[histIndex(v)]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// Merge adds every value of o to h.
func (h *LatencyHistogram) Merge(o *LatencyHistogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *LatencyHistogram) Count() int64 { return int64(h.n) }

// Quantile returns the value at quantile q (0 < q <= 1): the smallest
// recorded value v such that a fraction q of the values are at most v,
// within the bucket precision and never outside [min, max]. It returns 0
// for an empty histogram.
func (h *LatencyHistogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(histMid(i), h.min), h.max)
		}
	}
	return h.max
}

// Summary returns p50, p90, p99, p99.9, the exact maximum and the exact
// mean.
func (h *LatencyHistogram) Summary() LatencySummary {
	if h.n == 0 {
		return LatencySummary{}
	}
	return LatencySummary{
		P50:  h.Quantile(0.50),
		P90:  h.Quantile(0.90),
		P99:  h.Quantile(0.99),
		P999: h.Quantile(0.999),
		Max:  h.max,
		Mean: h.sum / time.Duration(h.n),
	}
}
