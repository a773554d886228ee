package loadgen_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"amaters-server/server"
	"amaters-server/server/client"
	"amaters-server/server/config"
	"amaters-server/server/loadgen"
)

// startLoadServer runs a server for the load tests, with rate limiting
// off so that no request is refused, and returns its API address.
func startLoadServer(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.Server.BindAddress = "127.0.0.1:0"
	cfg.Health.HTTPPort = 0
	cfg.Server.DataDir = t.TempDir()
	cfg.Storage.Engine = "memory"
	cfg.Middleware.RateLimitRPS = 0
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return srv.Addr()
}

// loadRangeAll reads every item of a collection (at most 10000).
func loadRangeAll(t *testing.T, addr, collection string) map[string][]byte {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/collections/" + collection + "/range?limit=10000")
	if err != nil {
		t.Fatalf("range: %v", err)
	}
	defer resp.Body.Close()
	var page struct {
		Items []struct{ Key, Value []byte }
		More  bool
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("range: status %d, %v", resp.StatusCode, err)
	}
	items := map[string][]byte{}
	for _, it := range page.Items {
		items[string(it.Key)] = it.Value
	}
	return items
}

// checkSummary fails unless the latency summary is ordered and not empty.
func checkSummary(t *testing.T, l loadgen.LatencySummary) {
	t.Helper()
	ordered := []time.Duration{l.P50, l.P90, l.P99, l.P999, l.Max}
	if l.P50 <= 0 || !slices.IsSorted(ordered) || l.Mean <= 0 || l.Mean > l.Max {
		t.Errorf("latency summary %+v: want 0 < p50 <= p90 <= p99 <= p999 <= max and 0 < mean <= max", l)
	}
}

func TestRunWorkloads(t *testing.T) {
	addr := startLoadServer(t)
	const keys, valueSize = 20, 100
	tests := []struct {
		workload  string
		requests  int
		batchSize int
		preloaded int
		written   bool // every key exists afterwards
	}{
		{workload: "get", requests: 2000, preloaded: keys, written: true},
		{workload: "put", requests: 2000, written: true},
		{workload: "mixed:90/10", requests: 2000, preloaded: keys, written: true},
		{workload: "mixed:0/100", requests: 2000, written: true},
		{workload: "range", requests: 1000, preloaded: keys, written: true},
		{workload: "batch", requests: 200, batchSize: 10, written: true},
	}
	for i, tc := range tests {
		t.Run(tc.workload, func(t *testing.T) {
			collection := fmt.Sprintf("load%d", i)
			res, err := loadgen.Run(t.Context(), loadgen.Options{
				Addr:       addr,
				Clients:    8,
				Requests:   tc.requests,
				Workload:   tc.workload,
				Keys:       keys,
				ValueSize:  valueSize,
				Collection: collection,
				BatchSize:  tc.batchSize,
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Ops != int64(tc.requests) || res.Errors != 0 {
				t.Errorf("ops %d, errors %d (%v, first %q), want %d ops and no errors", res.Ops, res.Errors, res.ErrorsByStatus, res.FirstError, tc.requests)
			}
			if res.Preloaded != tc.preloaded {
				t.Errorf("preloaded %d, want %d", res.Preloaded, tc.preloaded)
			}
			if res.Workload != tc.workload || res.Clients != 8 || res.Target != loadgen.TargetAmaters {
				t.Errorf("result names workload %q, target %q, %d clients", res.Workload, res.Target, res.Clients)
			}
			if res.Elapsed <= 0 || res.OpsPerSec <= 0 {
				t.Errorf("elapsed %v, %f ops/s", res.Elapsed, res.OpsPerSec)
			}
			checkSummary(t, res.Latency)
			// 2000 writes over 20 keys miss one with a chance of 1e-44.
			items := loadRangeAll(t, addr, collection)
			if tc.written && len(items) != keys {
				t.Errorf("collection holds %d keys after the run, want %d", len(items), keys)
			}
			for k, v := range items {
				if !strings.HasPrefix(k, "key-000000") || len(v) != valueSize {
					t.Errorf("item %q of %d bytes, want key-000000NN of %d", k, len(v), valueSize)
				}
			}
		})
	}
}

func TestRunRequestBoundBelowClients(t *testing.T) {
	addr := startLoadServer(t)
	res, err := loadgen.Run(t.Context(), loadgen.Options{Addr: addr, Clients: 16, Requests: 5, Workload: "put", Keys: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 5 || res.Errors != 0 {
		t.Errorf("ops %d, errors %d, want exactly 5 ops", res.Ops, res.Errors)
	}
}

// stepClock is a fake clock that moves by step on every reading and calls
// hook (when set) with the number of readings.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
	n    int
	hook func(n int)
}

func newStepClock(step time.Duration) *stepClock {
	return &stepClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), step: step}
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	c.t = c.t.Add(c.step)
	c.n++
	t, n, hook := c.t, c.n, c.hook
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return t
}

func TestRunDurationBound(t *testing.T) {
	addr := startLoadServer(t)
	// Every request takes one reading of a clock that moves 1 ms each
	// time, so a 100 ms run ends after at most 100 requests.
	clock := newStepClock(time.Millisecond)
	res, err := loadgen.Run(t.Context(), loadgen.Options{
		Addr: addr, Clients: 4, Duration: 100 * time.Millisecond, Workload: "put", Keys: 10, Now: clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops < 50 || res.Ops > 100 || res.Errors != 0 {
		t.Errorf("ops %d, errors %d: want 50..100 requests in 100 fake ms", res.Ops, res.Errors)
	}
	if res.Elapsed < 100*time.Millisecond || res.Elapsed > 110*time.Millisecond {
		t.Errorf("elapsed %v, want 100..110 ms", res.Elapsed)
	}
	if res.Latency.P50 < time.Millisecond {
		t.Errorf("p50 %v: every request spans at least one 1 ms step", res.Latency.P50)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	addr := startLoadServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clock := newStepClock(time.Microsecond)
	clock.hook = func(n int) {
		if n == 50 {
			cancel()
		}
	}
	// No bound given: 10 s by default, which the clock never reaches.
	res, err := loadgen.Run(ctx, loadgen.Options{Addr: addr, Clients: 4, Workload: "put", Keys: 10, Now: clock.now})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if res.Ops <= 0 || res.Ops > 50 || res.Errors != 0 {
		t.Errorf("partial result: ops %d, errors %d; want 1..50 ops and no errors", res.Ops, res.Errors)
	}

	// Cancelled before it starts: the preload fails.
	if _, err := loadgen.Run(ctx, loadgen.Options{Addr: addr, Workload: "get", Keys: 10}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context returned %v", err)
	}
}

func TestRunProgress(t *testing.T) {
	addr := startLoadServer(t)
	var out bytes.Buffer
	clock := newStepClock(10 * time.Millisecond)
	res, err := loadgen.Run(t.Context(), loadgen.Options{
		Addr: addr, Clients: 2, Duration: 3 * time.Second, Workload: "put", Keys: 10, Now: clock.now, Progress: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\r")
	// "", then a line at 1 s, 2 s and maybe 3 s, and the average at the end.
	if len(lines) < 4 || len(lines) > 5 || lines[0] != "" || !strings.HasSuffix(out.String(), "\n") {
		t.Fatalf("progress output %q: want three or four \\r lines and a final newline", out.String())
	}
	for i, l := range lines[1 : len(lines)-1] {
		if !strings.Contains(l, fmt.Sprintf("%d.", i+1)+"0 s ") || !strings.Contains(l, " ops ") || !strings.Contains(l, " ops/s") {
			t.Errorf("progress line %q lacks elapsed %d s, ops or ops/s", l, i+1)
		}
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, fmt.Sprintf(" %d ops ", res.Ops)) || !strings.HasSuffix(last, " ops/s average\n") {
		t.Errorf("last progress line %q does not show the %d ops of the run and the average", last, res.Ops)
	}
}

func TestRunProgressOfPreload(t *testing.T) {
	addr := startLoadServer(t)
	var out bytes.Buffer
	clock := newStepClock(10 * time.Millisecond)
	_, err := loadgen.Run(t.Context(), loadgen.Options{
		Addr: addr, Clients: 2, Requests: 10, Workload: "get", Keys: 10, Now: clock.now, Progress: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 10 requests take 0.1 fake seconds: no live line, only the preload.
	if want := "preloading 10 keys ...\rpreloaded 10 keys in 0.0 s\n"; out.String() != want {
		t.Errorf("progress %q, want %q", out.String(), want)
	}
}

// loadStub serves the bare handler's paths on loopback: GET answers 100
// bytes, PUT answers status put (204 when 0), POST /v1/batch 200. It
// checks the credentials when token is set.
func loadStub(t *testing.T, put int, token string, tlsOn bool) (addr string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
		if token != "" && (r.Header.Get("Authorization") != "Bearer "+token || r.Header.Get("X-Key") != "k") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.Method {
		case http.MethodGet:
			w.Write(bytes.Repeat([]byte("v"), 100))
		case http.MethodPut:
			w.WriteHeader(cmpOr(put, http.StatusNoContent))
		case http.MethodPost:
			if r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(http.StatusUnsupportedMediaType)
			}
		}
	})
	ts := httptest.NewUnstartedServer(h)
	// The load generator may dial a connection more than it ends up
	// using and close it mid-handshake: not worth a log line.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsOn {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(strings.TrimPrefix(ts.URL, "http://"), "https://"), requests
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func TestRunCountsErrorsByStatus(t *testing.T) {
	addr, _ := loadStub(t, http.StatusTooManyRequests, "", false)
	res, err := loadgen.Run(t.Context(), loadgen.Options{
		Addr: addr, Target: loadgen.TargetBare, Clients: 4, Requests: 400, Workload: "mixed:50/50", Keys: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	puts := res.ErrorsByStatus[http.StatusTooManyRequests]
	if res.Ops+res.Errors != 400 || res.Errors != puts || puts == 0 || res.Ops == 0 || res.Preloaded != 0 {
		t.Errorf("ops %d, errors %d %v, preloaded %d: want 400 requests, the PUTs all 429, nothing preloaded",
			res.Ops, res.Errors, res.ErrorsByStatus, res.Preloaded)
	}
	if !strings.Contains(res.FirstError, "429") {
		t.Errorf("first error %q does not name the status", res.FirstError)
	}
}

func TestRunCountsTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	res, err := loadgen.Run(t.Context(), loadgen.Options{Addr: addr, Target: loadgen.TargetBare, Clients: 2, Requests: 10, Workload: "put"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.TransportErrors != 10 || res.Errors != 10 || res.FirstError == "" {
		t.Errorf("ops %d, transport errors %d, errors %d, first %q: want 10 transport errors",
			res.Ops, res.TransportErrors, res.Errors, res.FirstError)
	}
	if res.Latency != (loadgen.LatencySummary{}) {
		t.Errorf("latency %+v with no successful request", res.Latency)
	}
}

func TestRunSendsCredentialsOverTLS(t *testing.T) {
	addr, requests := loadStub(t, 0, "tok", true)
	for _, workload := range []string{"get", "put", "batch"} {
		res, err := loadgen.Run(t.Context(), loadgen.Options{
			Addr:   "https://" + addr,
			Client: client.Options{Token: "tok", APIKey: "k", APIKeyHeader: "X-Key", Insecure: true},
			Target: loadgen.TargetBare, Clients: 2, Requests: 20, Workload: workload, BatchSize: 3,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != 20 || res.Errors != 0 {
			t.Errorf("%s: ops %d, errors %d %v (%s)", workload, res.Ops, res.Errors, res.ErrorsByStatus, res.FirstError)
		}
	}
	if n := requests.Load(); n != 60 {
		t.Errorf("the server saw %d requests, want 60 (no preload on the bare target)", n)
	}
}

// etcdStub imitates etcd's JSON gateway: it checks each body and counts
// puts (and the largest transaction) by key.
type etcdStub struct {
	mu     sync.Mutex
	puts   map[string]int
	ranges int
	maxTxn int
	bad    []string
}

func (e *etcdStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Key, Value string
		RangeEnd   string `json:"range_end"`
		Limit      int
		Success    []struct {
			RequestPut *struct{ Key, Value string } `json:"requestPut"`
		}
	}
	data, _ := io.ReadAll(r.Body)
	errBody := json.Unmarshal(data, &body)
	kv := body
	errKV := error(nil)
	if r.URL.Path == "/v3/kv/range" && body.RangeEnd != "" && (body.RangeEnd != "AA==" || body.Limit != 10) {
		errKV = fmt.Errorf("range_end %q limit %d", body.RangeEnd, body.Limit)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	decodeKey := func(s string) string {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || !strings.HasPrefix(string(k), "key-") {
			e.bad = append(e.bad, fmt.Sprintf("%s key %q", r.URL.Path, s))
		}
		return string(k)
	}
	switch {
	case r.Method != http.MethodPost || errBody != nil || errKV != nil:
		e.bad = append(e.bad, fmt.Sprintf("%s %s: %v %v", r.Method, r.URL.Path, errBody, errKV))
	case r.URL.Path == "/v3/kv/put":
		e.puts[decodeKey(kv.Key)]++
	case r.URL.Path == "/v3/kv/range":
		decodeKey(kv.Key)
		e.ranges++
	case r.URL.Path == "/v3/kv/txn":
		e.maxTxn = max(e.maxTxn, len(body.Success))
		for _, op := range body.Success {
			e.puts[decodeKey(op.RequestPut.Key)]++
		}
	default:
		e.bad = append(e.bad, "path "+r.URL.Path)
	}
	w.Write([]byte(`{"header":{}}`))
}

func TestRunEtcdTarget(t *testing.T) {
	for _, workload := range []string{"get", "put", "mixed:90/10", "range", "batch"} {
		t.Run(workload, func(t *testing.T) {
			stub := &etcdStub{puts: map[string]int{}}
			ts := httptest.NewServer(stub)
			defer ts.Close()
			res, err := loadgen.Run(t.Context(), loadgen.Options{
				Addr: ts.URL, Target: loadgen.TargetEtcd, Clients: 2, Requests: 50, Workload: workload, Keys: 250, BatchSize: 4,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops != 50 || res.Errors != 0 {
				t.Errorf("ops %d, errors %d (%s)", res.Ops, res.Errors, res.FirstError)
			}
			stub.mu.Lock()
			defer stub.mu.Unlock()
			if len(stub.bad) > 0 {
				t.Errorf("bad requests: %q", stub.bad[:min(len(stub.bad), 5)])
			}
			if res.Preloaded > 0 && (len(stub.puts) != 250 || stub.maxTxn > 128) {
				t.Errorf("preload wrote %d distinct keys in transactions of up to %d puts; want 250 keys, at most etcd's 128", len(stub.puts), stub.maxTxn)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    loadgen.Options
		want []string // substrings of the error; none = valid
	}{
		{name: "zero value", o: loadgen.Options{}},
		{name: "explicit remote", o: loadgen.Options{Addr: "10.1.2.3:7878", AddrExplicit: true}},
		{name: "localhost", o: loadgen.Options{Addr: "http://localhost:7878"}},
		{name: "ipv6 loopback", o: loadgen.Options{Addr: "[::1]:7878"}},
		{name: "implicit remote", o: loadgen.Options{Addr: "10.1.2.3:7878"}, want: []string{"not a loopback address", "pass --addr 10.1.2.3:7878"}},
		{name: "implicit remote name", o: loadgen.Options{Addr: "https://db.example:7878"}, want: []string{"--addr"}},
		{name: "no port", o: loadgen.Options{Addr: "localhost"}, want: []string{`"localhost" is not HOST:PORT`}},
		{name: "workload", o: loadgen.Options{Workload: "scan"}, want: []string{`unknown workload "scan"`}},
		{name: "target", o: loadgen.Options{Target: "redis"}, want: []string{`unknown target "redis"`}},
		{name: "everything at once",
			o:    loadgen.Options{Clients: -1, Duration: -time.Second, Requests: -1, Keys: -1, ValueSize: -1, BatchSize: 10001, Collection: "a b"},
			want: []string{"clients -1", "duration -1s", "requests -1", "keys -1", "value size -1", "batch size 10001", `collection name "a b"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// Run refuses the same options before sending anything.
			if _, err := loadgen.Run(t.Context(), tc.o); err == nil {
				t.Error("Run accepted what Validate refused")
			}
		})
	}
}

func TestParseWorkload(t *testing.T) {
	tests := []struct {
		in      string
		want    loadgen.Workload
		wantErr string
	}{
		{in: "get", want: loadgen.Workload{Kind: "get", ReadPercent: 100}},
		{in: "put", want: loadgen.Workload{Kind: "put"}},
		{in: "range", want: loadgen.Workload{Kind: "range", ReadPercent: 100}},
		{in: "batch", want: loadgen.Workload{Kind: "batch"}},
		{in: "mixed:90/10", want: loadgen.Workload{Kind: "mixed", ReadPercent: 90}},
		{in: "mixed:50/50", want: loadgen.Workload{Kind: "mixed", ReadPercent: 50}},
		{in: "mixed:100/0", want: loadgen.Workload{Kind: "mixed", ReadPercent: 100}},
		{in: "mixed:0/100", want: loadgen.Workload{Kind: "mixed", ReadPercent: 0}},
		{in: "mixed:007/093", want: loadgen.Workload{Kind: "mixed", ReadPercent: 7}},
		{in: "", wantErr: "workload is empty"},
		{in: "GET", wantErr: `unknown workload "GET"`},
		{in: "scan", wantErr: "want get, put, mixed:R/W"},
		{in: "mixed", wantErr: "needs its read/write split"},
		{in: "mixed:", wantErr: "whole percentages"},
		{in: "mixed:90", wantErr: "whole percentages"},
		{in: "mixed:90/20", wantErr: "sum to 100 percent, not 110"},
		{in: "mixed:80/10", wantErr: "not 90"},
		{in: "mixed:-10/110", wantErr: "whole percentages"},
		{in: "mixed:+90/10", wantErr: "whole percentages"},
		{in: "mixed:90.5/9.5", wantErr: "whole percentages"},
		{in: "mixed:90/10/0", wantErr: "whole percentages"},
		{in: "mixed:1000/0", wantErr: "whole percentages"},
		{in: "mixed: 90/10", wantErr: "whole percentages"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := loadgen.ParseWorkload(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseWorkload(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseWorkload(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if again, err := loadgen.ParseWorkload(got.String()); err != nil || again != got {
				t.Errorf("String %q parses to %+v, %v", got.String(), again, err)
			}
		})
	}
}

func FuzzParseWorkload(f *testing.F) {
	for _, s := range []string{"get", "put", "range", "batch", "mixed:90/10", "mixed:0/100", "mixed:1/2", "mixed:/", "mixed"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := loadgen.ParseWorkload(s)
		if err != nil {
			return
		}
		if w.ReadPercent < 0 || w.ReadPercent > 100 {
			t.Fatalf("ParseWorkload(%q) = %+v: read percent out of range", s, w)
		}
		if again, err := loadgen.ParseWorkload(w.String()); err != nil || again != w {
			t.Fatalf("ParseWorkload(%q) = %+v, whose String %q parses to %+v, %v", s, w, w.String(), again, err)
		}
	})
}

// exactQuantile is the value of rank ceil(q·n) of sorted.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		draw func() time.Duration
	}{
		{"uniform 1µs..100ms", func() time.Duration { return time.Microsecond + time.Duration(rng.Int64N(int64(100*time.Millisecond))) }},
		{"exponential mean 2ms", func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond)) }},
		{"log-uniform 1µs..60s", func() time.Duration {
			return time.Duration(math.Exp(math.Log(1e3) + rng.Float64()*(math.Log(60e9)-math.Log(1e3))))
		}},
		{"bimodal 200µs and 50ms", func() time.Duration {
			if rng.IntN(100) < 95 {
				return 200*time.Microsecond + time.Duration(rng.IntN(20000))
			}
			return 50*time.Millisecond + time.Duration(rng.IntN(5000000))
		}},
		{"nanoseconds 0..300", func() time.Duration { return time.Duration(rng.IntN(300)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h loadgen.Histogram
			values := make([]time.Duration, 100000)
			var sum time.Duration
			for i := range values {
				values[i] = tc.draw()
				sum += values[i]
				h.Record(values[i])
			}
			slices.Sort(values)
			for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
				got, want := h.Quantile(q), exactQuantile(values, q)
				if diff := math.Abs(float64(got - want)); diff > 0.01*float64(want) && diff > 1 {
					t.Errorf("q %v: %v, exact %v (%.2f%% off)", q, got, want, 100*diff/float64(want))
				}
			}
			s := h.Summary()
			if s.Max != values[len(values)-1] || s.Mean != sum/time.Duration(len(values)) || h.Count() != int64(len(values)) {
				t.Errorf("max %v mean %v count %d; want exactly %v, %v, %d", s.Max, s.Mean, h.Count(), values[len(values)-1], sum/time.Duration(len(values)), len(values))
			}
		})
	}
}

func TestHistogramBucketPrecision(t *testing.T) {
	// With the values v and 2v, the median is v's bucket: within 0.4 % of
	// v at every scale up to the top of the range.
	for v := time.Microsecond; v < 60*time.Second; v = v*21/20 + 1 {
		var h loadgen.Histogram
		h.Record(v)
		h.Record(2 * v)
		if got := h.Quantile(0.5); math.Abs(float64(got-v)) > 0.004*float64(v) {
			t.Fatalf("median of %v and %v is %v", v, 2*v, got)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	var h loadgen.Histogram
	if h.Summary() != (loadgen.LatencySummary{}) || h.Quantile(0.5) != 0 || h.Count() != 0 {
		t.Errorf("empty histogram: %+v", h.Summary())
	}
	h.Record(-time.Second) // a clock step backwards counts as 0
	h.Record(200 * time.Second)
	if s := h.Summary(); s.Max != 200*time.Second || s.P50 != 0 || s.P999 > s.Max || s.P999 < 100*time.Second {
		t.Errorf("summary %+v: want p50 0 and p99.9 near the top, at most max 200s", s)
	}
}

func TestHistogramMerge(t *testing.T) {
	var whole, a, b, empty loadgen.Histogram
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 10000 {
		d := time.Duration(rng.Int64N(int64(time.Second)))
		whole.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var merged loadgen.Histogram
	merged.Merge(&empty)
	merged.Merge(&a)
	merged.Merge(&empty)
	merged.Merge(&b)
	if merged != whole {
		t.Errorf("merged %+v, want %+v", merged.Summary(), whole.Summary())
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	h := new(loadgen.Histogram)
	d := time.Duration(0)
	if n := testing.AllocsPerRun(1000, func() { d += 997; h.Record(d) }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h loadgen.Histogram
	d := time.Duration(1)
	b.ReportAllocs()
	for b.Loop() {
		d = d*31 + 7
		h.Record(d % time.Second)
	}
}

func TestResultJSON(t *testing.T) {
	res := loadgen.Result{
		Workload: "mixed:90/10", Target: "amaters", Addr: "127.0.0.1:7878", Clients: 64, Keys: 1000, ValueSize: 100, Preloaded: 1000,
		Ops: 1000, Errors: 5, ErrorsByStatus: map[int]int64{429: 3}, TransportErrors: 2, FirstError: "boom",
		Elapsed: 2500 * time.Millisecond, OpsPerSec: 400,
		Latency: loadgen.LatencySummary{P50: 1500 * time.Microsecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond,
			P999: 4 * time.Millisecond, Max: 5 * time.Millisecond, Mean: 1250 * time.Microsecond},
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"workload": "mixed:90/10", "target": "amaters", "addr": "127.0.0.1:7878", "clients": 64.0, "keys": 1000.0,
		"value_size": 100.0, "preloaded_keys": 1000.0, "ops": 1000.0, "errors": 5.0,
		"errors_by_status": map[string]any{"429": 3.0}, "transport_errors": 2.0, "first_error": "boom",
		"elapsed_ms": 2500.0, "ops_per_sec": 400.0,
		"latency": map[string]any{"p50_ms": 1.5, "p90_ms": 2.0, "p99_ms": 3.0, "p999_ms": 4.0, "max_ms": 5.0, "mean_ms": 1.25},
	}
	if !jsonEqual(got, want) {
		t.Errorf("JSON %s\nwant %v", data, want)
	}
	// Empty maps and no error: errors_by_status is {} (never null), and
	// first_error is left out.
	data, _ = json.Marshal(loadgen.Result{})
	if !bytes.Contains(data, []byte(`"errors_by_status":{}`)) || bytes.Contains(data, []byte("first_error")) {
		t.Errorf("zero result JSON %s", data)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func ExampleResult_WriteHuman() {
	res := loadgen.Result{
		Workload: "get", Target: "amaters", Addr: "127.0.0.1:7878", Clients: 64, Keys: 100000, ValueSize: 100, Preloaded: 100000,
		Ops: 412345, Errors: 12, ErrorsByStatus: map[int]int64{404: 10}, TransportErrors: 2,
		FirstError: "GET http://127.0.0.1:7878/v1/collections/bench/keys/key-00000042: status 404",
		Elapsed:    10 * time.Second, OpsPerSec: 41234.5,
		Latency: loadgen.LatencySummary{P50: 1234 * time.Microsecond, P90: 2345 * time.Microsecond, P99: 4567 * time.Microsecond,
			P999: 7890 * time.Microsecond, Max: 12345 * time.Microsecond, Mean: 1500 * time.Microsecond},
	}
	res.WriteHuman(os.Stdout)
	// Output:
	// workload   get on amaters at 127.0.0.1:7878 (64 clients, 100000 keys, 100-byte values, 100000 preloaded)
	// elapsed    10.00 s
	// ops        412345 (41234.5 ops/s)
	// errors     12 (404: 10, transport: 2)
	// first      GET http://127.0.0.1:7878/v1/collections/bench/keys/key-00000042: status 404
	// latency    p50 1.234 ms, p90 2.345 ms, p99 4.567 ms, p99.9 7.890 ms, max 12.345 ms, mean 1.500 ms
}

func ExampleParseWorkload() {
	for _, s := range []string{"mixed:90/10", "get", "mixed:90/20"} {
		w, err := loadgen.ParseWorkload(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("%s: %s, %d%% reads\n", w, w.Kind, w.ReadPercent)
	}
	// Output:
	// mixed:90/10: mixed, 90% reads
	// get: get, 100% reads
	// error: workload "mixed:90/20": reads and writes must sum to 100 percent, not 110
}

// rawStub answers every request on loopback with the canned bytes of
// answer, closing the connection after each answer when closeAfter is set.
// It returns its address and the number of connections it accepted.
func rawStub(t *testing.T, answer string, closeAfter bool) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(conn, answer); err != nil || closeAfter {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String(), accepted
}

func TestRunHTTP1Answers(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		closeAfter bool
		wantOK     bool
		wantStatus int    // counted as an error with this status
		wantFirst  string // in FirstError
		maxConns   int64  // 0: no limit
	}{
		{name: "content length", answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", wantOK: true, maxConns: 2},
		{name: "chunked with extension and trailer",
			answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n1000\r\n" + strings.Repeat("z", 4096) + "\r\n0\r\nX-Trailer: y\r\n\r\n",
			wantOK: true, maxConns: 2},
		{name: "header case and spaces", answer: "HTTP/1.1 200 OK\r\ncontent-LENGTH:   3  \r\n\r\nabc", wantOK: true, maxConns: 2},
		{name: "connection close", answer: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", closeAfter: true, wantOK: true},
		{name: "close-delimited body", answer: "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("b", 20000), closeAfter: true, wantOK: true},
		{name: "HTTP/1.0", answer: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", closeAfter: true, wantOK: true},
		{name: "interim answer", answer: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", wantOK: true, maxConns: 2},
		// The server drops each connection after one answer without
		// saying so, as on its idle timeout: the next request on it fails
		// before any answer and is sent again on a new connection.
		{name: "silently closed keep-alive", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", closeAfter: true, wantOK: true},
		{name: "error status keeps the body's start",
			answer:     "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 300\r\n\r\n{\"error\":\"busy\"}" + strings.Repeat(" ", 284),
			wantStatus: 503, wantFirst: `status 503: {"error":"busy"}`, maxConns: 2},
		{name: "chunked error", answer: "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n6\r\n found\r\n0\r\n\r\n",
			wantStatus: 404, wantFirst: "status 404: not found", maxConns: 2},
		{name: "malformed status", answer: "HTTP/1.1 2x0 OK\r\n\r\n", wantFirst: "malformed status line"},
		{name: "short body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", closeAfter: true, wantFirst: "unexpected EOF"},
		{name: "bad chunk", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", closeAfter: true, wantFirst: "bad chunk size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, accepted := rawStub(t, tc.answer, tc.closeAfter)
			res, err := loadgen.Run(t.Context(), loadgen.Options{Addr: addr, Target: loadgen.TargetBare, Clients: 2, Requests: 20, Workload: "mixed:50/50"})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantOK && (res.Ops != 20 || res.Errors != 0):
				t.Errorf("ops %d, errors %d (%s), want 20 ops", res.Ops, res.Errors, res.FirstError)
			case tc.wantStatus != 0 && res.ErrorsByStatus[tc.wantStatus] != 20:
				t.Errorf("errors %v (%s), want 20 of status %d", res.ErrorsByStatus, res.FirstError, tc.wantStatus)
			case !tc.wantOK && tc.wantStatus == 0 && res.TransportErrors != 20:
				t.Errorf("ops %d, transport errors %d, want 20 transport errors", res.Ops, res.TransportErrors)
			}
			if !strings.Contains(res.FirstError, tc.wantFirst) {
				t.Errorf("first error %q lacks %q", res.FirstError, tc.wantFirst)
			}
			if n := accepted.Load(); tc.maxConns > 0 && n > tc.maxConns {
				t.Errorf("%d connections for 2 clients: not kept alive", n)
			}
		})
	}
}

func TestRunNetHTTPMatches(t *testing.T) {
	addr := startLoadServer(t)
	for _, workload := range []string{"get", "put", "range", "batch"} {
		res, err := loadgen.Run(t.Context(), loadgen.Options{
			Addr: addr, UseNetHTTP: true, Clients: 4, Requests: 200, Workload: workload, Keys: 50, BatchSize: 5, Collection: "nethttp",
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != 200 || res.Errors != 0 {
			t.Errorf("%s through net/http: ops %d, errors %d (%s)", workload, res.Ops, res.Errors, res.FirstError)
		}
		checkSummary(t, res.Latency)
	}
}
