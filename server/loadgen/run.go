package loadgen

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"amaters-server/server/client"
)

// Run preloads the key set when the workload reads (get, mixed, range;
// with POST /v1/batch, or etcd transactions, in chunks by a few workers),
// then runs the closed loop until the duration or request bound, or ctx,
// ends it. It returns the options' problems (see [Options.Validate])
// and preload failures as errors. Failed requests during the run are not
// errors of Run: they are counted in the result. If ctx ends during the
// run, Run returns the partial result together with ctx.Err().
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	o = o.withDefaults()
	wl, _ := ParseWorkload(o.Workload)
	c, err := client.New(o.Addr, o.Client)
	if err != nil {
		return Result{}, err
	}
	r := newLoadRun(o, wl, c)
	defer r.transport.CloseIdleConnections()

	res := Result{Workload: wl.String(), Target: o.Target, Addr: o.Addr, Clients: o.Clients, Keys: o.Keys, ValueSize: o.ValueSize}
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

	var h Histogram
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

// runner is the state of one Run.
type runner struct {
	o  Options
	wl Workload

	// base is scheme://host:port with no trailing slash; hostPort its
	// HOST:PORT. raw says requests go over httpConn's own HTTP/1.1 (plain
	// http with no path prefix, and not UseNetHTTP), else through hc.
	base, hostPort string
	raw            bool
	timeout        time.Duration // per request, for an answer's headers
	header         http.Header   // of every GET and PUT: authentication
	jsonHeader     http.Header   // header plus Content-Type: application/json, for POST
	// rawHeader and rawJSONHeader are the same as header lines for httpConn,
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

	clients []worker
}

// worker is the per-goroutine state, written only by its goroutine
// until the run ends.
type worker struct {
	hist          Histogram
	ok            int64
	transportErrs int64
	byStatus      map[int]int64
	firstErr      string
}

func newLoadRun(o Options, wl Workload, c *client.Client) *runner {
	copts := c.Options()
	tr := c.Transport()
	// One persistent connection per client: keep as many idle as there
	// are clients (the preload workers reuse them), and ask for no gzip,
	// as curl and most clients do not.
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = o.Clients + preloadWorkers
	tr.DisableCompression = true
	tr.ResponseHeaderTimeout = copts.Timeout
	r := &runner{
		o:         o,
		wl:        wl,
		base:      c.URL(),
		hostPort:  c.HostPort(),
		raw:       strings.HasPrefix(c.URL(), "http://") && !strings.Contains(c.URL()[len("http://"):], "/") && !o.UseNetHTTP,
		timeout:   copts.Timeout,
		header:    http.Header{},
		transport: tr,
		hc:        &http.Client{Transport: tr},
		value:     makeValue(o.ValueSize),
		clients:   make([]worker, o.Clients),
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

// makeValue returns n bytes of printable, not very compressible filler.
func makeValue(n int) []byte {
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

// appendKey appends the key "key-%08d" of index i.
func appendKey(b []byte, i int) []byte {
	b = append(b, "key-"...)
	return appendDigits(b, i)
}

// appendDigits appends i zero-padded to at least 8 digits.
func appendDigits(b []byte, i int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(i), 10)
	for range 8 - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendKey64 appends the base64 of key i.
func appendKey64(b []byte, i int) []byte {
	var k [32]byte
	return base64.StdEncoding.AppendEncode(b, appendKey(k[:0], i))
}

// preload writes keys 0..Keys-1 with preloadWorkers concurrent batch
// requests.
func (r *runner) preload(ctx context.Context) error {
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
func (r *runner) appendBatch(b []byte, lo, hi int, rng *rand.Rand) []byte {
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
		b = appendKey64(b, k)
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
func (r *runner) loop(ctx context.Context, i int) {
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
func (r *runner) nextRequest(path, body []byte, rng *rand.Rand) (method string, _, _ []byte) {
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
		return http.MethodGet, appendDigits(append(path, r.keysPath...), k), nil
	case WorkloadPut:
		return http.MethodPut, appendDigits(append(path, r.keysPath...), k), r.value
	case WorkloadRange:
		return http.MethodGet, appendDigits(append(path, r.rangePath...), k), nil
	default: // WorkloadBatch
		return http.MethodPost, append(path, "/v1/batch"...), r.appendBatch(body, 0, r.o.BatchSize, rng)
	}
}

// nextEtcdRequest is nextRequest for etcd's JSON gateway.
func (r *runner) nextEtcdRequest(path, body []byte, kind string, k int, rng *rand.Rand) (method string, _, _ []byte) {
	switch kind {
	case WorkloadGet, WorkloadRange:
		body = appendKey64(append(body, `{"key":"`...), k)
		if kind == WorkloadRange {
			// range_end "\x00" means every key from key on.
			body = append(body, `","range_end":"AA==","limit":`+strconv.Itoa(rangeLimit)+`}`...)
		} else {
			body = append(body, `"}`...)
		}
		return http.MethodPost, append(path, "/v3/kv/range"...), body
	case WorkloadPut:
		body = appendKey64(append(body, `{"key":"`...), k)
		body = append(body, `","value":"`...)
		body = append(body, r.value64...)
		body = append(body, `"}`...)
		return http.MethodPost, append(path, "/v3/kv/put"...), body
	default: // WorkloadBatch
		return http.MethodPost, append(path, "/v3/kv/txn"...), r.appendBatch(body, 0, r.o.BatchSize, rng)
	}
}

// maybeProgress prints the progress line when a second has passed since the
// last one; one client prints, the others go on.
func (r *runner) maybeProgress(elapsed time.Duration) {
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
func (r *runner) printProgressLocked(elapsed time.Duration) {
	ops := r.done.Load()
	rate := 0.0
	if d := elapsed - r.lastAt; d > 0 {
		rate = float64(ops-r.lastOps) / d.Seconds()
	}
	r.lastOps, r.lastAt = ops, elapsed
	fmt.Fprintf(r.o.Progress, "\r%7.1f s %12d ops %10.0f ops/s", elapsed.Seconds(), ops, rate)
	r.printed.Store(true)
}
