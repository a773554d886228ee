package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/config"
	"amaters-server/server/store"
)

// These tests reach inside the package where the public surface cannot
// produce the condition: a handler panic, a non-loopback peer, and the
// parsers' fuzz targets.

func newTestServer(t *testing.T, mutate func(*config.Config)) (*Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	return servingInProcess(t, mutate, slog.New(slog.NewJSONHandler(&logs, nil))), &logs
}

// servingInProcess builds a memory-engine server whose handlers can be
// called directly (no listeners): storage open, state serving.
func servingInProcess(tb testing.TB, mutate func(*config.Config), log *slog.Logger) *Server {
	tb.Helper()
	cfg := config.Default()
	cfg.Server.DataDir = tb.TempDir()
	cfg.Storage.Engine = "memory"
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.openStorage(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.store.Close() })
	s.state.Store(stateServing)
	return s
}

func TestPanicBecomes500WithoutInternals(t *testing.T) {
	s, logs := newTestServer(t, nil)
	h := s.withRequestID(s.withRecover(s.withMetrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("secret-internal-detail at /src/x.go:12")
	}))))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/v1/status"))
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != "internal" {
		t.Fatalf("body %q", rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret-internal-detail") || strings.Contains(rec.Body.String(), ".go") {
		t.Fatalf("answer leaks internals: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "secret-internal-detail") || !strings.Contains(logs.String(), "goroutine") {
		t.Fatalf("panic and stack not logged: %s", logs)
	}
	if got := s.metrics.panics.Value(); got != 1 {
		t.Fatalf("panics counter = %v", got)
	}
	// The server goes on serving.
	rec = httptest.NewRecorder()
	s.apiHandler().ServeHTTP(rec, localRequest("GET", "/v1/status"))
	if rec.Code != 200 {
		t.Fatalf("after a panic: %d", rec.Code)
	}
}

func TestProtectedMode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		anon   bool
		remote string
		want   int
	}{
		{"loopback v4", false, "127.0.0.1:5000", 200},
		{"loopback v6", false, "[::1]:5000", 200},
		{"remote refused", false, "192.0.2.7:5000", 403},
		{"remote v6 refused", false, "[2001:db8::1]:5000", 403},
		{"remote with allow_anonymous", true, "192.0.2.7:5000", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, func(c *config.Config) { c.Auth.AllowAnonymous = tc.anon })
			req := httptest.NewRequest("GET", "/v1/status", nil)
			req.RemoteAddr = tc.remote
			rec := httptest.NewRecorder()
			s.apiHandler().ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 403 && (!strings.Contains(rec.Body.String(), "permission_denied") || !strings.Contains(rec.Body.String(), "allow_anonymous")) {
				t.Fatalf("403 does not explain how to configure auth: %s", rec.Body)
			}
		})
	}
}

func TestDrainingAnswers503(t *testing.T) {
	s, _ := newTestServer(t, nil)
	s.state.Store(stateDraining)
	rec := httptest.NewRecorder()
	s.apiHandler().ServeHTTP(rec, localRequest("GET", "/v1/collections/c/keys/k"))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "unavailable") {
		t.Fatalf("draining GET: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.apiHandler().ServeHTTP(rec, localRequest("GET", "/v1/status"))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"state":"draining"`) {
		t.Fatalf("draining status: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.healthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Fatalf("readyz while draining: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.healthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"status":"unavailable"`) {
		t.Fatalf("health while draining: %d %s", rec.Code, rec.Body)
	}
}

func TestDiskFullIs507(t *testing.T) {
	// Not logged per request (internal = false): the engine logs the
	// condition once.
	e, internal := toAPIError(fmt.Errorf("wal append: %w", &net.OpError{Err: syscall.ENOSPC}))
	if e.status != 507 || e.code != "insufficient_storage" || internal {
		t.Fatalf("%+v internal=%v", e, internal)
	}
	// Writes stopped for good (a failed fsync on a full disk) is 503:
	// freeing space does not bring them back.
	e, internal = toAPIError(fmt.Errorf("%w: %w", lsm.ErrWritesStopped, syscall.ENOSPC))
	if e.status != 503 || !internal {
		t.Fatalf("%+v internal=%v", e, internal)
	}
}

func TestRangeQueryNamesFirstBadParameter(t *testing.T) {
	for raw, want := range map[string]string{
		"li&29":                     `unknown query parameter "li"`,
		"limit=1&zz=1&aa=1":         `unknown query parameter "zz"`,
		"end=b&start=a&start=c":     `query parameter "start" is given 2 times`,
		"limit=1&limit=2&bogus=%41": `query parameter "limit" is given 2 times`,
	} {
		for range 20 { // a map's order would change between runs
			_, err := parseRangeQuery(raw, 64)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("%q: error %v, want it to contain %s", raw, err, want)
			}
		}
	}
}

func FuzzRange(f *testing.F) {
	for _, s := range []string{"", "start=a&end=b", "prefix=user%2F&limit=5", "next=YWJj&prefix=a", "limit=0",
		"start=%ff%00&end=%ff", "a=b", "next=+/+/", "start=a;b", "limit=10000&limit=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseRangeQuery(raw, 64)
		if _, again := parseRangeQuery(raw, 64); fmt.Sprint(again) != fmt.Sprint(err) {
			t.Fatalf("two parses of one query disagree: %v, then %v", err, again)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status >= 500 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > maxRangeLimit {
			t.Fatalf("limit %d accepted", q.Limit)
		}
		if len(q.Start) > 64 || len(q.End) > 64 {
			t.Fatalf("bound longer than a key accepted: %q %q", q.Start, q.End)
		}
		vals, _ := url.ParseQuery(raw)
		if p := vals.Get("prefix"); p != "" {
			if !bytes.HasPrefix(q.Start, []byte(p)) && bytes.Compare(q.Start, []byte(p)) < 0 {
				t.Fatalf("start %q is before prefix %q", q.Start, p)
			}
		}
	})
}

func FuzzBatch(f *testing.F) {
	f.Add([]byte(`{"ops":[{"op":"set","collection":"a","key":"YQ==","value":""}]}`))
	f.Add([]byte(`{"ops":[{"op":"delete","collection":"a","key":"YQ=="},{"op":"set","collection":"b.c","key":"AAE=","value":"AA=="}]}`))
	f.Add([]byte(`{"ops":[]}`))
	f.Add([]byte(`{"ops":null}`))
	f.Add([]byte(`{"ops":[{"op":"set"}]} x`))
	f.Add([]byte(`{"ops":[{"op":"check","collection":"a","key":"YQ==","if_revision":3},{"op":"set","collection":"a","key":"Yg==","value":"","ttl":10,"if_revision":0}]}`))
	f.Add([]byte(`{"ops":[{"op":"delete","collection":"a","key":"YQ==","if_revision":1e3}]}`))
	lim := batchLimits{maxKey: 16, maxValue: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := decodeBatch(bytes.NewReader(data), lim)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status >= 500 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		// Every accepted op is valid, and re-encoding gives the same ops.
		type jop struct {
			Op         string  `json:"op"`
			Collection string  `json:"collection"`
			Key        string  `json:"key"`
			Value      *string `json:"value,omitempty"`
			IfRevision *uint64 `json:"if_revision,omitempty"`
			TTL        int64   `json:"ttl,omitempty"`
		}
		var again struct {
			Ops []jop `json:"ops"`
		}
		again.Ops = []jop{}
		for _, o := range ops {
			if checkCollection(o.Collection) != nil || len(o.Key) == 0 || int64(len(o.Key)) > lim.maxKey || int64(len(o.Value)) > lim.maxValue {
				t.Fatalf("invalid op accepted: %+v", o)
			}
			j := jop{Op: "set", Collection: o.Collection, Key: base64.StdEncoding.EncodeToString(o.Key)}
			switch o.Kind {
			case store.OpDelete:
				j.Op = "delete"
			case store.OpCheck:
				j.Op = "check"
			default:
				v := base64.StdEncoding.EncodeToString(o.Value)
				j.Value = &v
			}
			switch o.Guard.Kind {
			case store.GuardAbsent:
				j.IfRevision = new(uint64)
			case store.GuardRevision:
				j.IfRevision = &o.Guard.Revision
			}
			j.TTL = o.TTL
			again.Ops = append(again.Ops, j)
		}
		body, _ := json.Marshal(again)
		ops2, err := decodeBatch(bytes.NewReader(body), lim)
		if err != nil || len(ops2) != len(ops) {
			t.Fatalf("re-encoded batch refused: %v", err)
		}
		for i := range ops {
			if ops[i].Kind != ops2[i].Kind || ops[i].Guard != ops2[i].Guard || ops[i].TTL != ops2[i].TTL || !bytes.Equal(ops[i].Key, ops2[i].Key) || !bytes.Equal(ops[i].Value, ops2[i].Value) {
				t.Fatalf("op %d changed in round trip", i)
			}
		}
	})
}

// localRequest is a request from a loopback peer, which protected mode serves.
func localRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

func TestLimiterTableIsBounded(t *testing.T) {
	l := newLimiters(10, 10, 1000)
	now := time.Unix(0, 0)
	for i := range 100000 {
		if ok, _ := l.allow(clientID{subject: fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)}, now); !ok {
			t.Fatalf("a new client was refused at %d", i)
		}
	}
	if n := l.clients(); n != 1000 {
		t.Fatalf("table holds %d clients, want the cap of 1000", n)
	}
	// The most recent clients are still tracked: their buckets are spent.
	key := clientID{subject: "10.1.134.159"} // client 99999
	for range 9 {
		l.allow(key, now)
	}
	if ok, wait := l.allow(key, now); ok || wait != 100*time.Millisecond {
		t.Fatalf("the 11th request of a recent client: ok=%v wait=%v", ok, wait)
	}
	var off *limiters
	if ok, _ := off.allow(clientID{subject: "x"}, now); !ok || off.clients() != 0 {
		t.Fatal("a nil table must allow everything")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true, "*": true, "br;q=1, gzip; q=0.1": true,
		"": false, "identity": false, "gzip;q=0": false, "gzip; q=0.0": false, "deflate": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}

func TestLineBuffer(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	b := newLineBuffer(w)
	line := strings.Repeat("x", 99) + "\n"
	b.Write([]byte(line))
	if got := b.String(); got != line {
		t.Fatalf("buffered %q", got)
	}
	// Past the buffer size, whole lines go out at once.
	for range lineBufferSize / 100 {
		b.Write([]byte(line))
	}
	mu.Lock()
	n := out.Len()
	mu.Unlock()
	if n < lineBufferSize || n%100 != 0 {
		t.Fatalf("%d bytes written after filling the buffer", n)
	}
	// Close writes the rest and stops the goroutine.
	b.Write([]byte("last\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), line+"last\n") || strings.Count(out.String(), "\n") != lineBufferSize/100+2 {
		t.Fatalf("after Close: %d lines", strings.Count(out.String(), "\n"))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestAccessWriterMatchesSlog: the hand-written access line says what the
// slog handlers would say, in text and in JSON, for awkward values too.
func TestAccessWriterMatchesSlog(t *testing.T) {
	when := time.Date(2026, 11, 26, 19, 14, 20, 675436000, time.UTC)
	for i, id := range []string{"plain-1", `we"ird=id`, "", "tab\there", "ünï"} {
		rec := accessRecord{time: when, level: slog.LevelInfo, requestID: id, method: "GET",
			route: "/v1/collections/{c}/keys/{key...}", collection: "c d", status: 200, bytesIn: 3,
			bytesOut: 100, duration: 1234567, identity: "local", remote: "127.0.0.1:5000"}
		if i%2 == 1 {
			rec.status, rec.code = 404, "not_found"
		}
		for _, asJSON := range []bool{false, true} {
			var fast, ref bytes.Buffer
			level := new(slog.LevelVar)
			aw := &accessWriter{w: &fast, json: asJSON, level: level}
			aw.write(&rec)
			ho := &slog.HandlerOptions{}
			var h slog.Handler = slog.NewTextHandler(&ref, ho)
			if asJSON {
				ho.ReplaceAttr = durationMillis
				h = slog.NewJSONHandler(&ref, ho)
			}
			r := slog.NewRecord(when, slog.LevelInfo, "request", 0)
			r.AddAttrs(slog.String("request_id", rec.requestID), slog.String("method", rec.method),
				slog.String("route", rec.route), slog.String("collection", rec.collection), slog.Int("status", rec.status))
			if rec.code != "" {
				r.AddAttrs(slog.String("code", rec.code))
			}
			r.AddAttrs(slog.Int64("bytes_in", rec.bytesIn), slog.Int64("bytes_out", rec.bytesOut),
				slog.Duration("duration", rec.duration), slog.String("identity", rec.identity), slog.String("remote", rec.remote))
			h.Handle(t.Context(), r)
			if asJSON {
				var a, b map[string]any
				if err := json.Unmarshal(fast.Bytes(), &a); err != nil {
					t.Fatalf("fast JSON line %q: %v", fast.String(), err)
				}
				json.Unmarshal(ref.Bytes(), &b)
				if _, ok := a["duration_ms"]; !ok {
					t.Errorf("JSON line without duration_ms: %s", fast.String())
				}
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Errorf("JSON differs:\n fast %s\n slog %s", fast.String(), ref.String())
				}
			} else if id != "ünï" && fast.String() != ref.String() { // slog leaves printable non-ASCII unquoted
				t.Errorf("text differs:\n fast %q\n slog %q", fast.String(), ref.String())
			}
		}
	}
}
