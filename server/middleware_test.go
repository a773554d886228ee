package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"amaters-server/server"
	"amaters-server/server/config"
)

// fakeClock is a settable clock for the server's Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	ts := startServerWith(t, server.Options{Logger: discardLogger(), Now: clock.now}, func(c *config.Config) {
		c.Middleware.RateLimitRPS = 2
		c.Middleware.RateLimitBurst = 3
	})
	u := ts.api + "/v1/status"
	for i := range 3 {
		if r := do(t, "GET", u, nil); r.status != 200 {
			t.Fatalf("request %d within the burst: %d", i, r.status)
		}
	}
	r := do(t, "GET", u, nil)
	wantError(t, r, 429, "rate_limited")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1 (0.5 s rounded up)", r.header.Get("Retry-After"))
	}
	// Waiting refills the bucket at 2 tokens a second.
	clock.add(500 * time.Millisecond)
	if r := do(t, "GET", u, nil); r.status != 200 {
		t.Fatalf("after waiting: %d", r.status)
	}
	wantError(t, do(t, "GET", u, nil), 429, "rate_limited")
	st := do(t, "GET", ts.health+"/metrics", nil)
	if !strings.Contains(string(st.body), "amaters_ratelimit_rejected_total 2\n") {
		t.Errorf("rejections not counted:\n%s", grepLines(string(st.body), "ratelimit"))
	}
	clock.add(2 * time.Second)
	r = do(t, "GET", u, nil)
	if !strings.Contains(string(r.body), `"rate_limit":{"enabled":true,"rps":2,"burst":3,"clients":1,"rejected":2}`) {
		t.Errorf("status does not report the rate limit: %s", r.body)
	}
}

func TestGzipBothWays(t *testing.T) {
	ts := startServer(t, nil)
	big := bytes.Repeat([]byte("amaters "), 1000) // 8000 bytes
	var zbody bytes.Buffer
	zw := gzip.NewWriter(&zbody)
	zw.Write(big)
	zw.Close()
	// A gzip request body is stored inflated.
	u := keyURL(ts, "z", []byte("big"))
	if r := do(t, "PUT", u, zbody.Bytes(), "Content-Encoding", "gzip"); r.status != 204 {
		t.Fatalf("gzip PUT: %d %s", r.status, r.body)
	}
	// A large answer is compressed when the client accepts gzip...
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, big) || len(raw) >= len(big) {
		t.Fatalf("gzip answer: %d compressed bytes inflating to %d", len(raw), len(got))
	}
	// ...and not when it does not, or when the answer is small.
	for _, tc := range []struct{ accept, key string }{{"identity", "big"}, {"gzip;q=0", "big"}, {"gzip", "small"}} {
		if tc.key == "small" {
			do(t, "PUT", keyURL(ts, "z", []byte("small")), []byte("tiny"))
		}
		req, _ := http.NewRequest("GET", keyURL(ts, "z", []byte(tc.key)), nil)
		req.Header.Set("Accept-Encoding", tc.accept)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q, key %s: compressed", tc.accept, tc.key)
		}
	}
	// HEAD answers with the header fields its GET would have: gzip and no
	// (uncompressed) Content-Length for the large value; the plain length
	// for the small one or without gzip.
	for _, tc := range []struct{ accept, key, encoding, length string }{
		{"gzip", "big", "gzip", ""}, {"identity", "big", "", "8000"}, {"gzip", "small", "", "4"},
	} {
		req, _ := http.NewRequest("HEAD", keyURL(ts, "z", []byte(tc.key)), nil)
		req.Header.Set("Accept-Encoding", tc.accept)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != tc.encoding || resp.Header.Get("Content-Length") != tc.length {
			t.Errorf("HEAD, Accept-Encoding %q, key %s: %d, Content-Encoding %q, Content-Length %q; want %q, %q",
				tc.accept, tc.key, resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Length"), tc.encoding, tc.length)
		}
	}
	wantError(t, do(t, "PUT", u, []byte("x"), "Content-Encoding", "br"), 415, "unsupported_encoding")
	wantError(t, do(t, "PUT", u, []byte("not gzip"), "Content-Encoding", "gzip"), 400, "invalid_argument")
}

func TestDecompressionBomb(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Storage.MaxValueBytes = 1 << 20 })
	// 300 MB in a few hundred KB: zeros for a value, and for the batch a
	// JSON document that stays valid (whitespace) all the way. A gzip
	// stream may hold many members, so one compressed MiB is repeated.
	member := func(data []byte) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(data)
		zw.Close()
		return b.Bytes()
	}
	bomb := func(prefix string, fill byte) []byte {
		out := member([]byte(prefix))
		mib := member(bytes.Repeat([]byte{fill}, 1<<20))
		for range 300 {
			out = append(out, mib...)
		}
		return out
	}
	valueBomb, batchBomb := bomb("", 0), bomb(`{"ops":[`, ' ')
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	wantError(t, do(t, "PUT", keyURL(ts, "z", []byte("bomb")), valueBomb, "Content-Encoding", "gzip"), 413, "too_large")
	wantError(t, do(t, "POST", ts.api+"/v1/batch", batchBomb, "Content-Encoding", "gzip"), 413, "too_large")
	runtime.ReadMemStats(&after)
	// The server read at most its limit, not 300 MB, of inflated bytes.
	if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > 64<<20 {
		t.Errorf("serving the bomb allocated %d MiB", grew>>20)
	}
	wantError(t, do(t, "GET", keyURL(ts, "z", []byte("bomb")), nil), 404, "not_found")
}

func TestCORS(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Middleware.CORSOrigins = []string{"https://app.example"} })
	u := ts.api + "/v1/status"
	r := do(t, "OPTIONS", u, nil, "Origin", "https://app.example", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "X-API-Key") || r.header.Get("Access-Control-Max-Age") == "" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "If-Match") || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "If-None-Match") {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
	r = do(t, "GET", u, nil, "Origin", "https://app.example")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
		t.Fatalf("simple request: %d %v", r.status, r.header)
	}
	// A script may read the revision headers of a guarded update.
	if exp := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(exp, "ETag") || !strings.Contains(exp, "Amaters-Revision") {
		t.Fatalf("Access-Control-Expose-Headers = %q: the revision headers are hidden from scripts", exp)
	}
	for _, origin := range []string{"https://evil.example", "https://app.example.evil", "http://app.example"} {
		r = do(t, "OPTIONS", u, nil, "Origin", origin, "Access-Control-Request-Method", "PUT")
		if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("origin %s got CORS headers: %v", origin, r.header)
		}
		r = do(t, "GET", u, nil, "Origin", origin)
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("origin %s got Access-Control-Allow-Origin", origin)
		}
	}
}

func TestSlowlorisDoesNotBlockOthers(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Network.ReadHeaderTimeout = time.Second })
	addr := strings.TrimPrefix(ts.api, "http://")
	var slow []net.Conn
	for range 40 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		slow = append(slow, c)
	}
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	if r := do(t, "GET", ts.api+"/v1/status", nil); r.status != 200 {
		t.Fatalf("a normal request among slow ones: %d", r.status)
	}
	// The slow connections are cut once read_header_timeout passes.
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("slow connection %d was not closed by the server: %v", i, err)
		}
	}
}

func TestMaxConnectionsQueuesExtraClients(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Network.MaxConnections = 3 })
	addr := strings.TrimPrefix(ts.api, "http://")
	// Three kept-alive connections take every slot.
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection: %v %v", resp, err)
		}
		held = append(held, c)
	}
	// A fourth client connects (the kernel queues it) but is not served...
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	fmt.Fprint(extra, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
	extra.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := bufio.NewReader(extra).ReadByte(); err == nil {
		t.Fatal("a connection beyond max_connections was served")
	}
	// ...until a slot frees.
	held[0].Close()
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("queued connection after a slot freed: %v %v", resp, err)
	}
	for _, c := range held[1:] {
		c.Close()
	}
}

func TestAccessLogHasNoKeysOrValues(t *testing.T) {
	var logs syncBuffer
	ts := startServerWith(t, server.Options{Logger: newTextLogger(&logs)}, nil)
	secretKey, secretValue := []byte("user/ssn-123-45-6789"), []byte("VALUE-hunter2")
	do(t, "PUT", keyURL(ts, "people", secretKey), secretValue, "X-Request-Id", "put-1")
	do(t, "GET", keyURL(ts, "people", secretKey), nil, "X-Request-Id", "get-1")
	do(t, "GET", ts.api+"/v1/collections/people/range?prefix=user%2Fssn", nil, "X-Request-Id", "range-1")
	do(t, "GET", keyURL(ts, "people", []byte("absent")), nil, "X-Request-Id", "miss-1")
	do(t, "PATCH", keyURL(ts, "people", secretKey), nil, "X-Request-Id", "patch-1", "Accept-Encoding", "gzip")
	text := logs.String()
	for _, secret := range []string{"ssn-123", "hunter2", "VALUE", "user%2F"} {
		if strings.Contains(text, secret) {
			t.Fatalf("the access log holds %q:\n%s", secret, text)
		}
	}
	for _, want := range []string{
		`request_id=put-1 method=PUT route=/v1/collections/{c}/keys/{key...} collection=people status=204 bytes_in=13`,
		`request_id=get-1 method=GET route=/v1/collections/{c}/keys/{key...} collection=people status=200 bytes_in=0 bytes_out=13`,
		`request_id=range-1 method=GET route=/v1/collections/{c}/range collection=people status=200`,
		`identity=local remote=127.0.0.1:`,
		// An error answer names its code, also through the compression
		// middleware's writer.
		`request_id=miss-1 method=GET route=/v1/collections/{c}/keys/{key...} collection=people status=404 code=not_found bytes_in=0`,
		`request_id=patch-1 method=PATCH route=`,
		`status=405 code=method_not_allowed`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("access log lacks %q:\n%s", want, text)
		}
	}
}
