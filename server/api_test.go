package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"amaters-server/promtext/promtexttest"
	"amaters-server/server"
	"amaters-server/server/client"
	"amaters-server/server/config"
)

// testServer is a server running in-process on loopback ports.
type testServer struct {
	srv    *server.Server
	api    string // http://HOST:PORT
	health string
	done   chan error
}

// startServer runs a memory-engine server on free loopback ports with cfg
// adjusted by mutate, and stops it when the test ends.
func startServer(t *testing.T, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServerWith(t, server.Options{Logger: discardLogger()}, mutate)
}

// startServerWith is startServer with the given Options.
func startServerWith(t *testing.T, opts server.Options, mutate func(*config.Config)) *testServer {
	t.Helper()
	cfg := loopbackConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, done: make(chan error, 1)}
	go func() { ts.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-ts.done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server did not become ready")
	}
	ts.api = "http://" + srv.Addr()
	ts.health = "http://" + srv.HealthAddr()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ts
}

// loopbackConfig is the configuration of a test server: the memory
// engine, free loopback ports, a temporary data folder.
func loopbackConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Server.BindAddress = "127.0.0.1:0"
	cfg.Health.HTTPPort = 0
	cfg.Server.DataDir = t.TempDir()
	cfg.Storage.Engine = "memory"
	return cfg
}

// escapeKey percent-encodes every byte of key except unreserved letters and
// digits, so that keys such as "..", "/" or "%" reach the server intact.
func escapeKey(key []byte) string {
	var b strings.Builder
	for _, c := range key {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, rawURL string, body []byte, hdr ...string) result {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatalf("NewRequest %s %s: %v", method, rawURL, err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id on a %d answer", method, rawURL, resp.StatusCode)
	}
	return result{resp.StatusCode, resp.Header, data}
}

// wantError checks a JSON error answer.
func wantError(t *testing.T, r result, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", r.body)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %q and a message", e.Error, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
}

func keyURL(ts *testServer, c string, key []byte) string {
	return ts.api + "/v1/collections/" + c + "/keys/" + escapeKey(key)
}

func TestKeysRoundTripByteForByte(t *testing.T) {
	ts := startServer(t, nil)
	long := bytes.Repeat([]byte{'k'}, 4096)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	keys := [][]byte{
		[]byte("a"), []byte(".."), []byte("."), []byte("a/../b"), []byte("//"), []byte("/"),
		[]byte("%"), []byte("%2F"), []byte("a b"), []byte("ünïcödé"), []byte("a?b#c"), []byte("+"),
		{0}, {0xff, 0xfe}, binary, long,
	}
	values := [][]byte{[]byte("plain"), {0, 1, 0, 2, 0}, {}, bytes.Repeat([]byte{0}, 70000)}
	for i, key := range keys {
		value := values[i%len(values)]
		u := keyURL(ts, "demo", key)
		if r := do(t, "PUT", u, value); r.status != 204 {
			t.Fatalf("PUT %q: %d %s", key, r.status, r.body)
		}
		r := do(t, "GET", u, nil)
		if r.status != 200 || !bytes.Equal(r.body, value) {
			t.Fatalf("GET %q: %d, %d bytes, want %d bytes", key, r.status, len(r.body), len(value))
		}
		if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("GET Content-Type %q", ct)
		}
		r = do(t, "HEAD", u, nil)
		if r.status != 200 || r.header.Get("Content-Length") != fmt.Sprint(len(value)) || len(r.body) != 0 {
			t.Errorf("HEAD %q: %d, Content-Length %q", key, r.status, r.header.Get("Content-Length"))
		}
	}
	// Every key is listed by range exactly, in byte order.
	got := rangeAll(t, ts, "demo", "", 7)
	want := slices.Clone(keys)
	sort.Slice(want, func(i, j int) bool { return bytes.Compare(want[i], want[j]) < 0 })
	if len(got) != len(want) {
		t.Fatalf("range returned %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Key, want[i]) {
			t.Fatalf("range key %d = %q, want %q", i, got[i].Key, want[i])
		}
	}
	for _, key := range keys {
		u := keyURL(ts, "demo", key)
		if r := do(t, "DELETE", u, nil); r.status != 204 {
			t.Fatalf("DELETE %q: %d", key, r.status)
		}
		wantError(t, do(t, "GET", u, nil), 404, "not_found")
		if r := do(t, "HEAD", u, nil); r.status != 404 {
			t.Errorf("HEAD of a deleted key: %d", r.status)
		}
		if r := do(t, "DELETE", u, nil); r.status != 204 {
			t.Errorf("DELETE of an absent key: %d, want 204", r.status)
		}
	}
}

func TestEmptyValueIsNotADeletedKey(t *testing.T) {
	ts := startServer(t, nil)
	u := keyURL(ts, "c", []byte("empty"))
	if r := do(t, "PUT", u, []byte{}); r.status != 204 {
		t.Fatalf("PUT empty: %d", r.status)
	}
	r := do(t, "GET", u, nil)
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("GET empty value: %d %q", r.status, r.body)
	}
	items := rangeAll(t, ts, "c", "", 10)
	if len(items) != 1 || items[0].Value == nil || len(items[0].Value) != 0 {
		t.Fatalf("range of an empty value: %+v", items)
	}
	do(t, "DELETE", u, nil)
	wantError(t, do(t, "GET", u, nil), 404, "not_found")
	if items := rangeAll(t, ts, "c", "", 10); len(items) != 0 {
		t.Fatalf("range after delete: %+v", items)
	}
}

func TestUncleanPathsAreRefusedNotRedirected(t *testing.T) {
	ts := startServer(t, nil)
	for _, p := range []string{
		"/v1/collections/c/keys/..", "/v1/collections/c/keys/.", "/v1/collections/c/keys/a/../b",
		"/v1/collections/c/keys//", "/v1/collections//keys/k", "/v1//status",
	} {
		req, _ := http.NewRequest("PUT", ts.api, strings.NewReader("x"))
		req.URL.Opaque = p // sent exactly as written
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, result{resp.StatusCode, resp.Header, body}, 400, "invalid_argument")
	}
}

func TestErrors(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		c.Storage.MaxKeyBytes = 16
		c.Storage.MaxValueBytes = 1000
	})
	k := keyURL(ts, "c", []byte("k"))
	cases := []struct {
		name           string
		method, url    string
		body           []byte
		status         int
		code           string
		checkAllowHead bool
	}{
		{"bad collection", "PUT", ts.api + "/v1/collections/bad%20name/keys/k", []byte("x"), 400, "invalid_argument", false},
		{"collection starting with dot", "GET", ts.api + "/v1/collections/.hidden/keys/k", nil, 400, "invalid_argument", false},
		{"collection too long", "GET", ts.api + "/v1/collections/" + strings.Repeat("a", 129) + "/keys/k", nil, 400, "invalid_argument", false},
		{"key too long", "PUT", keyURL(ts, "c", bytes.Repeat([]byte("k"), 17)), []byte("x"), 413, "too_large", false},
		{"value too large", "PUT", k, bytes.Repeat([]byte("v"), 1001), 413, "too_large", false},
		{"missing key", "GET", keyURL(ts, "c", []byte("nope")), nil, 404, "not_found", false},
		{"unknown route", "GET", ts.api + "/v2/whatever", nil, 404, "not_found", false},
		{"method not allowed", "PATCH", k, nil, 405, "method_not_allowed", true},
		{"batch with GET", "GET", ts.api + "/v1/batch", nil, 405, "method_not_allowed", false},
		{"range bad limit", "GET", ts.api + "/v1/collections/c/range?limit=0", nil, 400, "invalid_argument", false},
		{"range limit too big", "GET", ts.api + "/v1/collections/c/range?limit=10001", nil, 400, "invalid_argument", false},
		{"range unknown param", "GET", ts.api + "/v1/collections/c/range?strat=a", nil, 400, "invalid_argument", false},
		{"range repeated param", "GET", ts.api + "/v1/collections/c/range?start=a&start=b", nil, 400, "invalid_argument", false},
		{"range bad next", "GET", ts.api + "/v1/collections/c/range?next=%%%", nil, 400, "invalid_argument", false},
		{"range start too long", "GET", ts.api + "/v1/collections/c/range?start=" + strings.Repeat("a", 17), nil, 413, "too_large", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, tc.url, tc.body)
			wantError(t, r, tc.status, tc.code)
			if tc.checkAllowHead && r.header.Get("Allow") != "PUT, GET, HEAD, DELETE" {
				t.Errorf("Allow = %q", r.header.Get("Allow"))
			}
		})
	}
	// A value at exactly the limit is accepted; the failed PUT changed nothing.
	wantError(t, do(t, "GET", k, nil), 404, "not_found")
	if r := do(t, "PUT", k, bytes.Repeat([]byte("v"), 1000)); r.status != 204 {
		t.Fatalf("PUT at the limit: %d %s", r.status, r.body)
	}
}

func TestRequestID(t *testing.T) {
	ts := startServer(t, nil)
	r := do(t, "GET", keyURL(ts, "c", []byte("missing")), nil, "X-Request-Id", "trace-42")
	if got := r.header.Get("X-Request-Id"); got != "trace-42" {
		t.Errorf("echoed id %q", got)
	}
	a := do(t, "GET", ts.api+"/v1/status", nil).header.Get("X-Request-Id")
	b := do(t, "GET", ts.api+"/v1/status", nil).header.Get("X-Request-Id")
	if a == b {
		t.Errorf("two requests got the same id %q", a)
	}
	bad := do(t, "GET", ts.api+"/v1/status", nil, "X-Request-Id", strings.Repeat("x", 200)).header.Get("X-Request-Id")
	if len(bad) > 128 {
		t.Errorf("an over-long client id was echoed")
	}
}

type item struct {
	Key       []byte `json:"key"`
	Value     []byte `json:"value"`
	Revision  uint64 `json:"revision"`
	ExpiresAt string `json:"expires_at"`
}

type page struct {
	Items    []item `json:"items"`
	More     bool   `json:"more"`
	Next     []byte `json:"next"`
	Revision uint64 `json:"revision"`
}

func getPage(t *testing.T, ts *testServer, c, query string) page {
	t.Helper()
	r := do(t, "GET", ts.api+"/v1/collections/"+c+"/range?"+query, nil)
	if r.status != 200 {
		t.Fatalf("range %s: %d %s", query, r.status, r.body)
	}
	var p page
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("range body %s: %v", r.body, err)
	}
	if p.Items == nil {
		t.Fatalf("range body has no items array: %s", r.body)
	}
	if p.More != (p.Next != nil) {
		t.Fatalf("more=%v but next=%q", p.More, p.Next)
	}
	return p
}

// rangeAll pages through a whole range with next, checking order.
func rangeAll(t *testing.T, ts *testServer, c, query string, limit int) []item {
	t.Helper()
	var all []item
	q := query
	for pages := 0; ; pages++ {
		if pages > 100000 {
			t.Fatal("paging does not end")
		}
		p := getPage(t, ts, c, fmt.Sprintf("%s&limit=%d", q, limit))
		if len(p.Items) > limit {
			t.Fatalf("page of %d items for limit %d", len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if !p.More {
			break
		}
		q = query + "&next=" + url.QueryEscape(base64.StdEncoding.EncodeToString(p.Next))
	}
	for i := 1; i < len(all); i++ {
		if bytes.Compare(all[i-1].Key, all[i].Key) >= 0 {
			t.Fatalf("range not strictly ascending at %d: %q then %q", i, all[i-1].Key, all[i].Key)
		}
	}
	return all
}

func TestRangePagingAndBounds(t *testing.T) {
	ts := startServer(t, nil)
	var ops []map[string]string
	for i := range 250 {
		ops = append(ops, map[string]string{"op": "set", "collection": "users",
			"key": b64(fmt.Sprintf("user/%03d", i)), "value": b64(fmt.Sprint(i))})
	}
	for i := range 5 {
		ops = append(ops, map[string]string{"op": "set", "collection": "users", "key": b64(fmt.Sprintf("zzz%d", i)), "value": ""})
		ops = append(ops, map[string]string{"op": "set", "collection": "usersx", "key": b64(fmt.Sprintf("user/%03d", i)), "value": "eA=="})
	}
	if r := postBatch(t, ts, ops); r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	// Paging with next covers everything once, in order, in each collection alone.
	if all := rangeAll(t, ts, "users", "", 100); len(all) != 255 {
		t.Fatalf("users has %d keys, want 255", len(all))
	}
	if all := rangeAll(t, ts, "usersx", "", 100); len(all) != 5 {
		t.Fatalf("usersx has %d keys, want 5", len(all))
	}
	// Default limit is 100.
	if p := getPage(t, ts, "users", ""); len(p.Items) != 100 || !p.More {
		t.Fatalf("default page: %d items, more=%v", len(p.Items), p.More)
	}
	// prefix, and prefix with paging.
	pre := rangeAll(t, ts, "users", "prefix=user%2F1", 7)
	if len(pre) != 100 || string(pre[0].Key) != "user/100" || string(pre[99].Key) != "user/199" {
		t.Fatalf("prefix user/1: %d items from %q", len(pre), firstKey(pre))
	}
	// start inclusive, end exclusive.
	se := rangeAll(t, ts, "users", "start=user%2F010&end=user%2F020", 3)
	if len(se) != 10 || string(se[0].Key) != "user/010" || string(se[9].Key) != "user/019" {
		t.Fatalf("start/end: %d items from %q", len(se), firstKey(se))
	}
	// An empty or inverted range is an empty page, not an error.
	if p := getPage(t, ts, "users", "start=b&end=a"); len(p.Items) != 0 || p.More {
		t.Fatalf("inverted range: %+v", p)
	}
	if p := getPage(t, ts, "nothing-here", ""); len(p.Items) != 0 {
		t.Fatalf("empty collection: %+v", p)
	}
	// Values come back as written.
	if p := getPage(t, ts, "users", "start=user%2F042&limit=1"); string(p.Items[0].Value) != "42" {
		t.Fatalf("value of user/042 = %q", p.Items[0].Value)
	}
}

func firstKey(items []item) string {
	if len(items) == 0 {
		return ""
	}
	return string(items[0].Key)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func postBatch(t *testing.T, ts *testServer, ops any) result {
	t.Helper()
	body, err := json.Marshal(map[string]any{"ops": ops})
	if err != nil {
		t.Fatal(err)
	}
	return do(t, "POST", ts.api+"/v1/batch", body)
}

func TestBatchIsAllOrNothing(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Storage.MaxValueBytes = 100 })
	set := func(c, k, v string) map[string]string {
		return map[string]string{"op": "set", "collection": c, "key": b64(k), "value": b64(v)}
	}
	do(t, "PUT", keyURL(ts, "a", []byte("old")), []byte("kept"))
	bad := []struct {
		name   string
		last   any
		status int
		code   string
	}{
		{"bad base64 key", map[string]string{"op": "set", "collection": "a", "key": "!!", "value": ""}, 400, "invalid_argument"},
		{"unknown op", map[string]string{"op": "put", "collection": "a", "key": b64("k")}, 400, "invalid_argument"},
		{"bad collection", map[string]string{"op": "set", "collection": "-x", "key": b64("k"), "value": ""}, 400, "invalid_argument"},
		{"empty key", map[string]string{"op": "set", "collection": "a", "key": "", "value": ""}, 400, "invalid_argument"},
		{"set without value", map[string]string{"op": "set", "collection": "a", "key": b64("k")}, 400, "invalid_argument"},
		{"delete with value", map[string]string{"op": "delete", "collection": "a", "key": b64("k"), "value": ""}, 400, "invalid_argument"},
		{"value too large", set("a", "k", strings.Repeat("v", 101)), 413, "too_large"},
		{"unknown member", map[string]string{"op": "set", "collection": "a", "key": b64("k"), "value": "", "ttl": "1"}, 400, "invalid_argument"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			ops := []any{set("a", "new1", "1"), map[string]string{"op": "delete", "collection": "a", "key": b64("old")}, set("b", "new2", "2"), tc.last}
			wantError(t, postBatch(t, ts, ops), tc.status, tc.code)
			// Nothing of the batch was applied.
			wantError(t, do(t, "GET", keyURL(ts, "a", []byte("new1")), nil), 404, "not_found")
			wantError(t, do(t, "GET", keyURL(ts, "b", []byte("new2")), nil), 404, "not_found")
			if r := do(t, "GET", keyURL(ts, "a", []byte("old")), nil); r.status != 200 || string(r.body) != "kept" {
				t.Fatalf("a/old after a refused batch: %d %q", r.status, r.body)
			}
		})
	}
	for _, tc := range []struct{ name, body string }{
		{"not JSON", "{"},
		{"trailing data", `{"ops":[]} {}`},
		{"no ops", `{}`},
		{"ops not an array", `{"ops":{}}`},
		{"deep nesting", `{"ops":[` + strings.Repeat("[", 20000) + `]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, "POST", ts.api+"/v1/batch", []byte(tc.body)), 400, "invalid_argument")
		})
	}
	t.Run("too many ops", func(t *testing.T) {
		ops := make([]any, 10001)
		for i := range ops {
			ops[i] = map[string]string{"op": "delete", "collection": "a", "key": b64("x")}
		}
		wantError(t, postBatch(t, ts, ops), 413, "too_large")
	})
	t.Run("good batch", func(t *testing.T) {
		ops := []any{set("a", "new1", "1"), map[string]string{"op": "delete", "collection": "a", "key": b64("old")}, set("b", "new2", ""), set("a", "new1", "last wins")}
		r := postBatch(t, ts, ops)
		if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"applied":4,"revision":2}` {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		if r := do(t, "GET", keyURL(ts, "a", []byte("new1")), nil); string(r.body) != "last wins" {
			t.Fatalf("a/new1 = %q", r.body)
		}
		wantError(t, do(t, "GET", keyURL(ts, "a", []byte("old")), nil), 404, "not_found")
		if r := do(t, "GET", keyURL(ts, "b", []byte("new2")), nil); r.status != 200 || len(r.body) != 0 {
			t.Fatalf("b/new2: %d %q", r.status, r.body)
		}
	})
}

func TestBatchBodyLimit(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Middleware.MaxBodyBytes = 1000 })
	ops := []any{map[string]string{"op": "set", "collection": "a", "key": b64("k"), "value": b64(strings.Repeat("v", 2000))}}
	wantError(t, postBatch(t, ts, ops), 413, "too_large")
}

func TestStatusHealthAndMetrics(t *testing.T) {
	ts := startServer(t, nil)
	r := do(t, "GET", ts.api+"/v1/status", nil)
	var st map[string]any
	if err := json.Unmarshal(r.body, &st); err != nil || r.status != 200 {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	if st["name"] != "amaters-server" || st["version"] != server.Version || st["state"] != "serving" || st["engine"] != "memory" {
		t.Errorf("status = %v", st)
	}
	for _, k := range []string{"uptime_seconds", "connections"} {
		if _, ok := st[k].(float64); !ok {
			t.Errorf("status %s missing: %v", k, st)
		}
	}
	for _, p := range []string{"/livez", "/readyz"} {
		if r := do(t, "GET", ts.health+p, nil); r.status != 200 || string(r.body) != "ok\n" {
			t.Errorf("%s: %d %q", p, r.status, r.body)
		}
	}
	for _, p := range []string{"/health", "/healthz"} {
		r := do(t, "GET", ts.health+p, nil)
		var h struct {
			Status        string
			Checks        map[string]string
			Version       string
			UptimeSeconds *int64 `json:"uptime_seconds"`
		}
		if err := json.Unmarshal(r.body, &h); err != nil || r.status != 200 || h.Status != "ok" || h.Checks["storage"] != "ok" || h.Version != server.Version || h.UptimeSeconds == nil {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	// Another method on a health path is 405 with Allow; an unknown path 404.
	for _, p := range []string{"/livez", "/readyz", "/health", "/healthz", "/metrics"} {
		for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
			r := do(t, m, ts.health+p, nil)
			wantError(t, r, 405, "method_not_allowed")
			if a := r.header.Get("Allow"); a != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", m, p, a)
			}
		}
		if r := do(t, "HEAD", ts.health+p, nil); r.status != 200 && !(p == "/readyz" && r.status == 503) {
			t.Errorf("HEAD %s: %d", p, r.status)
		}
	}
	wantError(t, do(t, "GET", ts.health+"/nothing", nil), 404, "not_found")
	wantError(t, do(t, "POST", ts.health+"/nothing", nil), 404, "not_found")

	// Some traffic, then the exposition is strictly valid and shows it.
	do(t, "PUT", keyURL(ts, "m", []byte("k")), []byte("v"))
	do(t, "GET", keyURL(ts, "m", []byte("k")), nil)
	do(t, "GET", keyURL(ts, "m", []byte("absent")), nil)
	r = do(t, "GET", ts.health+"/metrics", nil)
	if ct := r.header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("metrics Content-Type %q", ct)
	}
	if err := promtexttest.Check(r.body); err != nil {
		t.Fatalf("exposition is invalid: %v\n%s", err, r.body)
	}
	text := string(r.body)
	for _, want := range []string{
		`amaters_storage_ops_total{op="set",result="ok"} 1`,
		// The storage metrics measure the engine: the GET of k is a
		// hit of the write-through cache, not a storage operation.
		`amaters_storage_ops_total{op="get",result="ok"} 0`,
		`amaters_cache_hits_total 1`,
		`amaters_storage_ops_total{op="get",result="not_found"} 1`,
		`amaters_network_requests_total{method="PUT",code="204"} 1`,
		`amaters_storage_latency_seconds_bucket{op="get",le="+Inf"} 1`,
		`amaters_build_info{version="0.3.0"`,
		"# TYPE amaters_storage_size_bytes gauge", "# TYPE amaters_cache_hits_total counter",
		"# TYPE amaters_cache_misses_total counter", "# TYPE amaters_cache_evictions_total counter",
		"# TYPE amaters_network_connections gauge", "# TYPE amaters_network_errors_total counter",
		"# TYPE amaters_auth_successes_total counter", "# TYPE amaters_auth_failures_total counter",
		"# TYPE amaters_ratelimit_rejected_total counter", "# TYPE amaters_lsm_flushes_total counter",
		"# TYPE amaters_lsm_compactions_total counter", "# TYPE amaters_lsm_wal_syncs_total counter",
		"# TYPE amaters_lsm_level_files gauge", "# TYPE amaters_lsm_level_bytes gauge",
		"# TYPE process_resident_memory_bytes gauge", "# TYPE process_start_time_seconds gauge",
		"# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	sizeOf := func(text string) float64 {
		var v float64
		for _, line := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(line, "amaters_storage_size_bytes "); ok {
				fmt.Sscan(rest, &v)
			}
		}
		return v
	}
	before := sizeOf(text)
	do(t, "PUT", keyURL(ts, "m", []byte("k2")), bytes.Repeat([]byte("v"), 10000))
	after := sizeOf(string(do(t, "GET", ts.health+"/metrics", nil).body))
	if before <= 0 || after < before+10000 {
		t.Errorf("storage size %v, then %v after writing 10000 bytes", before, after)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestAdminShutdownDrainsAndStops(t *testing.T) {
	ts := startServer(t, nil)
	do(t, "PUT", keyURL(ts, "c", []byte("k")), []byte("v"))
	r := do(t, "POST", ts.api+"/v1/admin/shutdown", nil)
	if r.status != 202 || strings.TrimSpace(string(r.body)) != `{"state":"draining"}` {
		t.Fatalf("shutdown: %d %s", r.status, r.body)
	}
	if hp := r.header.Get(client.HealthPortHeader); !strings.HasSuffix(ts.health, ":"+hp) || hp == "" {
		t.Errorf("health port header %q; health is at %s", hp, ts.health)
	}
	select {
	case err := <-ts.done:
		ts.done <- err // for the cleanup's check
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after admin shutdown")
	}
	if _, err := http.Get(ts.api + "/v1/status"); err == nil {
		t.Error("API still answers after shutdown")
	}
}

func TestPortInUse(t *testing.T) {
	ts := startServer(t, nil)
	cfg := config.Default()
	cfg.Server.BindAddress = strings.TrimPrefix(ts.api, "http://")
	cfg.Health.HTTPPort = 0
	cfg.Server.DataDir = t.TempDir()
	cfg.Storage.Engine = "memory"
	srv, err := server.New(cfg, server.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("Run on a busy port: %v", err)
	}
}

// TestMetricsUnderLoad scrapes /metrics twice while writers run: both
// scrapes are strictly valid, counters never go down between them, and
// promtool (installed by .ci/run) accepts the live output.
func TestMetricsUnderLoad(t *testing.T) {
	ts := startServer(t, nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/v1/collections/load/keys/k%d", ts.api, i%50), strings.NewReader("v"))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	scrape := func() []byte {
		r := do(t, "GET", ts.health+"/metrics", nil)
		if err := promtexttest.Check(r.body); err != nil {
			t.Fatalf("invalid exposition under load: %v", err)
		}
		return r.body
	}
	first := scrape()
	waitForCounter(t, ts, first)
	second := scrape()
	close(stop)
	<-done
	a, b := counters(first), counters(second)
	for name, v := range a {
		if b[name] < v {
			t.Errorf("%s went down: %v then %v", name, v, b[name])
		}
	}
	promtool(t, second)
}

// waitForCounter waits until the PUT counter moved past its value in before.
func waitForCounter(t *testing.T, ts *testServer, before []byte) {
	t.Helper()
	key := `amaters_storage_ops_total{op="set",result="ok"}`
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := do(t, "GET", ts.health+"/metrics", nil)
		if counters(r.body)[key] > counters(before)[key] {
			return
		}
	}
	t.Fatal("the set counter did not move under load")
}

// counters maps each *_total, *_count and *_bucket series to its value.
func counters(exposition []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(exposition), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		name := line[:i]
		base, _, _ := strings.Cut(name, "{")
		if !strings.HasSuffix(base, "_total") && !strings.HasSuffix(base, "_count") && !strings.HasSuffix(base, "_bucket") {
			continue
		}
		var v float64
		fmt.Sscan(line[i+1:], &v)
		out[name] = v
	}
	return out
}

// promtool runs `promtool check metrics` on an exposition: exit 0 is
// required (3, lint problems, fails too). Without promtool the test is
// skipped on a developer machine and fails in CI.
func promtool(t *testing.T, exposition []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs it (Debian package prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus); CI runs this check")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestLogFailureIsReportedNotFatal points the log file at /dev/full: every
// log write fails with ENOSPC, the server goes on serving, and /health says so.
func TestLogFailureIsReportedNotFatal(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "server.log")
	if err := os.Symlink("/dev/full", logFile); err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, server.Options{Stderr: io.Discard}, func(c *config.Config) { c.Logging.File = logFile })
	for range 3 {
		if r := do(t, "PUT", keyURL(ts, "c", []byte("k")), []byte("v")); r.status != 204 {
			t.Fatalf("PUT with a failing log: %d", r.status)
		}
	}
	// Access lines reach the file in batches (every 100 ms): poll.
	var r result
	var h struct {
		Status string
		Checks map[string]string
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		r = do(t, "GET", ts.health+"/health", nil)
		json.Unmarshal(r.body, &h)
		if strings.HasPrefix(h.Checks["log"], "failing: ") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.status != 200 || h.Status != "ok" || !strings.HasPrefix(h.Checks["log"], "failing: ") || h.Checks["storage"] != "ok" {
		t.Fatalf("health with a failing log: %d %s", r.status, r.body)
	}
}

func TestRangePageEndsAtItsByteBudget(t *testing.T) {
	ts := startServer(t, nil)
	big := bytes.Repeat([]byte("v"), 1<<20)
	for i := range 10 {
		do(t, "PUT", keyURL(ts, "big", []byte(fmt.Sprintf("k%d", i))), big)
	}
	p := getPage(t, ts, "big", "limit=100")
	if len(p.Items) == 0 || len(p.Items) >= 10 || !p.More {
		t.Fatalf("a page of 10 MiB of values was not cut: %d items, more=%v", len(p.Items), p.More)
	}
	if all := rangeAll(t, ts, "big", "", 100); len(all) != 10 {
		t.Fatalf("paging through large values returned %d items", len(all))
	}
}

func TestRangeCacheInvalidation(t *testing.T) {
	ts := startServer(t, nil)
	for _, k := range []string{"a", "b", "c"} {
		do(t, "PUT", keyURL(ts, "r", []byte(k)), []byte(k))
	}
	keys := func() string {
		var out []string
		for _, it := range getPage(t, ts, "r", "start=a&end=c").Items {
			out = append(out, string(it.Key)+"="+string(it.Value))
		}
		return strings.Join(out, ",")
	}
	if got := keys(); got != "a=a,b=b" {
		t.Fatalf("first scan %q", got)
	}
	keys() // now cached
	do(t, "PUT", keyURL(ts, "r", []byte("b2")), []byte("new"))
	do(t, "DELETE", keyURL(ts, "r", []byte("a")), nil)
	if got := keys(); got != "b=b,b2=new" {
		t.Fatalf("scan after insert and delete: %q (stale cached page)", got)
	}
	// A batch invalidates too, and writes to another collection do not matter.
	postBatch(t, ts, []any{map[string]string{"op": "set", "collection": "r", "key": b64("b"), "value": b64("batched")}})
	if got := keys(); got != "b=batched,b2=new" {
		t.Fatalf("scan after a batch: %q", got)
	}
	m := string(do(t, "GET", ts.health+"/metrics", nil).body)
	for _, name := range []string{"amaters_cache_hits_total", "amaters_cache_entries", "amaters_cache_bytes"} {
		if strings.Contains(m, "\n"+name+" 0\n") || !strings.Contains(m, "\n"+name+" ") {
			t.Errorf("%s does not show the cache at work:\n%s", name, grepLines(m, "amaters_cache"))
		}
	}
}

func TestCacheRespectsAuthorization(t *testing.T) {
	ts, _ := authServer(t, nil)
	admin := token(t, "ada", []string{"admin"}, nil)
	reader := token(t, "rita", []string{"reader"}, []string{"a"})
	do(t, "PUT", keyURL(ts, "secret", []byte("k")), []byte("classified"), bearer(admin)...)
	for range 2 { // the second read is a cache hit
		if r := do(t, "GET", keyURL(ts, "secret", []byte("k")), nil, bearer(admin)...); r.status != 200 {
			t.Fatalf("admin read: %d", r.status)
		}
	}
	r := do(t, "GET", keyURL(ts, "secret", []byte("k")), nil, bearer(reader)...)
	wantError(t, r, 403, "permission_denied")
	if strings.Contains(string(r.body), "classified") {
		t.Fatal("a cached value leaked to an unauthorized reader")
	}
}

// TestErrorsAreJSONNotRedirects: paths ServeMux would answer with an HTML
// redirect (a subtree without its slash) get a JSON error instead.
func TestErrorsAreJSONNotRedirects(t *testing.T) {
	ts := startServer(t, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/v1/collections/c/keys", "/v1/collections/c", "/v1", "/v1/admin", "/v1/batch/", "/v1/collections/c/range/x"} {
		for _, m := range []string{"GET", "PUT", "DELETE", "POST"} {
			req, _ := http.NewRequest(m, ts.api+path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(string(body), `{"error":`) {
				t.Errorf("%s %s: %d %s %q", m, path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
	}
	// The asterisk form, which ServeMux answers with an empty 400.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET * HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || !strings.HasPrefix(string(body), `{"error":`) || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("GET *: %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

// TestQueryParametersOnlyWhereTaken: endpoints without parameters refuse
// any, naming it, and change nothing.
func TestQueryParametersOnlyWhereTaken(t *testing.T) {
	ts := startServer(t, nil)
	r := do(t, "PUT", keyURL(ts, "c", []byte("k"))+"?foo=1&bar", []byte("v"))
	wantError(t, r, 400, "invalid_argument")
	if !strings.Contains(string(r.body), `unknown query parameter \"foo\"`) {
		t.Errorf("message does not name the parameter: %s", r.body)
	}
	wantError(t, do(t, "GET", keyURL(ts, "c", []byte("k")), nil), 404, "not_found") // nothing was written
	for _, target := range []string{
		keyURL(ts, "c", []byte("k")) + "?x",
		ts.api + "/v1/status?verbose=1",
		ts.api + "/v1/batch?dry_run=1",
		ts.api + "/v1/admin/backup?x=1",
	} {
		method := "GET"
		if strings.Contains(target, "batch") {
			method = "POST"
		}
		wantError(t, do(t, method, target, []byte(`{"ops":[]}`)), 400, "invalid_argument")
	}
	if r := do(t, "GET", ts.api+"/v1/collections/c/range?limit=5", nil); r.status != 200 {
		t.Errorf("range with parameters: %d %s", r.status, r.body)
	}
}
