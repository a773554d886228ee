package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"amaters-server/rbac"
	"amaters-server/server/client"
)

// Load targets: what speaks at Options.Addr.
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
	r, rerr := parsePercent(rs)
	w, werr := parsePercent(ws)
	switch {
	case !ok || rerr != nil || werr != nil:
		return Workload{}, fmt.Errorf("workload %q: want mixed:R/W with R and W whole percentages, e.g. mixed:90/10", s)
	case r+w != 100:
		return Workload{}, fmt.Errorf("workload %q: reads and writes must sum to 100 percent, not %d", s, r+w)
	}
	return Workload{Kind: WorkloadMixed, ReadPercent: r}, nil
}

// parsePercent parses 0..100 written in plain decimal digits.
func parsePercent(s string) (int, error) {
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("not a percentage")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 100 {
		return 0, errors.New("not a percentage")
	}
	return n, nil
}

// Options configure [Run]. A zero field means its default, so the
// zero value loads 127.0.0.1:7878 with 64 clients for 10 s of GETs.
type Options struct {
	// Addr is the server: "HOST:PORT" or an http(s):// URL, as for
	// [client.New]. Default 127.0.0.1:7878.
	Addr string
	// AddrExplicit says the user named Addr. Without it, Run refuses a
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
	// instead of the load generator's own lighter HTTP/1.1 (see httpConn);
	// https always goes through net/http. For cross-checks.
	UseNetHTTP bool
}

// Defaults of Options.
const (
	defaultAddr       = "127.0.0.1:7878"
	defaultClients    = 64
	defaultDuration   = 10 * time.Second
	defaultKeys       = 100000
	defaultValueSize  = 100
	defaultCollection = "bench"
	defaultBatchSize  = 100
	// preloadWorkers write the key set concurrently before the run.
	preloadWorkers = 4
	// preloadChunk is the number of sets per preload batch request; etcd's
	// default --max-txn-ops is 128, hence its smaller chunk.
	preloadChunk     = 1000
	preloadChunkEtcd = 100
	// maxBatchOps is the server's limit on the ops of one batch (API.md
	// §3).
	maxBatchOps = 10000
	// rangeLimit is the page size of the range workload.
	rangeLimit = 10
)

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = defaultAddr
	}
	if o.Target == "" {
		o.Target = TargetAmaters
	}
	if o.Clients == 0 {
		o.Clients = defaultClients
	}
	if o.Duration == 0 && o.Requests == 0 {
		o.Duration = defaultDuration
	}
	if o.Workload == "" {
		o.Workload = WorkloadGet
	}
	if o.Keys == 0 {
		o.Keys = defaultKeys
	}
	if o.ValueSize == 0 {
		o.ValueSize = defaultValueSize
	}
	if o.Collection == "" {
		o.Collection = defaultCollection
	}
	if o.BatchSize == 0 {
		o.BatchSize = defaultBatchSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate checks the options after defaults are applied and returns every
// problem at once, so a command line can tell bad flags (Validate fails)
// from a failed run (Run fails) before any request is sent.
func (o Options) Validate() error {
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
	if !rbac.ValidCollectionName(o.Collection) {
		errs = append(errs, fmt.Errorf("collection name %q must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", o.Collection))
	}
	if strings.ContainsAny(o.Client.Token+o.Client.APIKey+o.Client.APIKeyHeader, "\r\n") {
		errs = append(errs, errors.New("the token, API key and API key header must not contain line breaks"))
	}
	host, err := hostOf(o.Addr)
	switch {
	case err != nil:
		errs = append(errs, err)
	case !o.AddrExplicit && !isLoopback(host):
		errs = append(errs, fmt.Errorf("refusing to load %s, which is not a loopback address, without being told: pass --addr %s to confirm", o.Addr, o.Addr))
	}
	return errors.Join(errs...)
}

// hostOf returns the host part of an address as client.New accepts it.
func hostOf(addr string) (string, error) {
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

// isLoopback reports whether host is "localhost" or a loopback IP. Other
// names are not resolved: a name is treated as remote.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
