package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"amaters-server/server"
	"amaters-server/server/config"
)

// metricValue scrapes the health port and returns the value of one series
// (name with its labels, as exposed), or -1 when it is absent.
func metricValue(t *testing.T, ts *testServer, series string) float64 {
	t.Helper()
	r := do(t, "GET", ts.health+"/metrics", nil)
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

// waitMetric polls a series until cond holds, failing after 15 s.
func waitMetric(t *testing.T, ts *testServer, series string, cond func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v := metricValue(t, ts, series)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %v", series, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialFrom connects to addr from the loopback address local (any of
// 127.0.0.0/8 on Linux), so that tests can play several client addresses.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	return c
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Slow uploads that declare a large Content-Length and send a few bytes
// hold what arrived (plus one first buffer), not what they declared, and a
// legitimate client is served meanwhile.
func TestSlowUploadsDoNotPinDeclaredLength(t *testing.T) {
	const conns, declared = 100, 4 << 20
	ts := startServer(t, func(c *config.Config) {
		c.Storage.MaxValueBytes = declared
		c.Network.MaxConnectionsPerIP = 0
	})
	addr := strings.TrimPrefix(ts.api, "http://")
	before := heapInUse()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range conns {
		c := dialFrom(t, "127.0.0.1", addr)
		held = append(held, c)
		fmt.Fprintf(c, "PUT /v1/collections/slow/keys/k%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nabcd", i, declared)
	}
	// Every upload is in its handler, holding its first buffer (32 KiB).
	waitMetric(t, ts, "amaters_inflight_body_bytes", func(v float64) bool { return v == conns*32<<10 })
	after := heapInUse()
	if grew := int64(after) - int64(before); grew > 64<<20 {
		t.Errorf("heap grew by %d MiB for %d uploads of 4 bytes declaring %d MiB each", grew>>20, conns, declared>>20)
	}
	if r := do(t, "PUT", ts.api+"/v1/collections/c/keys/legit", []byte("v")); r.status != 204 {
		t.Fatalf("a legitimate PUT among slow uploads: %d %s", r.status, r.body)
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	waitMetric(t, ts, "amaters_inflight_body_bytes", func(v float64) bool { return v == 0 })
}

// Past network.max_inflight_body_mb a request waits briefly, then gets 503
// (counted), and never allocates; once bodies finish, requests pass again.
func TestInflightBodyBudget(t *testing.T) {
	const half = 512 << 10
	ts := startServer(t, func(c *config.Config) {
		c.Storage.MaxValueBytes = half
		c.Middleware.MaxBodyBytes = half
		c.Network.MaxInflightBodyMB = 1
	})
	addr := strings.TrimPrefix(ts.api, "http://")
	// Two uploads of 512 KiB, one byte short each, hold the whole budget.
	var held []net.Conn
	for i := range 2 {
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		fmt.Fprintf(c, "PUT /v1/collections/b/keys/h%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", i, half, strings.Repeat("x", half-1))
		held = append(held, c)
	}
	waitMetric(t, ts, "amaters_inflight_body_bytes", func(v float64) bool { return v == 2*half })

	r := do(t, "PUT", ts.api+"/v1/collections/b/keys/third", []byte(strings.Repeat("y", 100<<10)))
	if r.status != 503 || !strings.Contains(string(r.body), "max_inflight_body_mb") || r.header.Get("Retry-After") == "" {
		t.Fatalf("a body past the budget: %d %v %s", r.status, r.header, r.body)
	}
	// A batch is held to the same budget.
	batch := `{"ops":[{"op":"set","collection":"b","key":"k","value":"` + strings.Repeat("z", 100<<10) + `"}]}`
	if r := do(t, "POST", ts.api+"/v1/batch", []byte(batch)); r.status != 503 {
		t.Fatalf("a batch past the budget: %d %s", r.status, r.body)
	}
	if v := metricValue(t, ts, "amaters_inflight_body_rejected_total"); v != 2 {
		t.Errorf("amaters_inflight_body_rejected_total = %v, want 2", v)
	}
	// A request without a body needs no budget.
	if r := do(t, "GET", ts.api+"/v1/status", nil); r.status != 200 {
		t.Fatalf("GET while the budget is full: %d", r.status)
	}

	// The held uploads finish; their budget comes back.
	for _, c := range held {
		c.Write([]byte("x"))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("held upload: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	waitMetric(t, ts, "amaters_inflight_body_bytes", func(v float64) bool { return v == 0 })
	if r := do(t, "PUT", ts.api+"/v1/collections/b/keys/third", []byte(strings.Repeat("y", 100<<10))); r.status != 204 {
		t.Fatalf("a body once the budget is free: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", ts.api+"/v1/collections/b/keys/h1", nil); r.status != 200 || len(r.body) != half {
		t.Fatalf("held upload's value: %d, %d bytes", r.status, len(r.body))
	}
}

// hostile holds connections of the three kinds that used to starve other
// clients: idle (connected, nothing sent), slowloris (headers never
// finished) and keep-alive (one request answered, then silence).
type hostile struct{ conns []net.Conn }

func (h *hostile) open(t *testing.T, local, addr string, kind int) {
	t.Helper()
	c := dialFrom(t, local, addr)
	h.conns = append(h.conns, c)
	switch kind % 3 {
	case 1:
		fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	case 2:
		fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
	}
}

func (h *hostile) close() {
	for _, c := range h.conns {
		c.Close()
	}
}

// legitGET is a new client's GET, bounded by a deadline well under the
// server's read_header_timeout (10 s) and idle_timeout (60 s): before the
// connection bounds, it waited for one of those.
func legitGET(t *testing.T, url string, hdr ...string) int {
	t.Helper()
	client := &http.Client{Timeout: 6 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("a legitimate client among hostile connections: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// 1000 hostile connections from one address get network.max_connections_per_ip
// slots; the rest are closed at once, and another client is served.
func TestHostileConnectionsFromOneAddress(t *testing.T) {
	ts, _ := authServer(t, nil) // the defaults: 1000 connections, 256 per address
	addr := strings.TrimPrefix(ts.api, "http://")
	var h hostile
	defer h.close()
	for i := range 1000 {
		h.open(t, "127.0.0.2", addr, i)
	}
	// Every connection is accepted and either closed at once (past the
	// cap), or closed after its 401 (the keep-alive kind, which sends a
	// request without credentials), or held (256 at most).
	deadline := time.Now().Add(15 * time.Second)
	for {
		perIP := metricValue(t, ts, `amaters_network_connections_closed_total{reason="per_ip_limit"}`)
		auth := metricValue(t, ts, `amaters_network_connections_closed_total{reason="auth_failure"}`)
		if perIP >= 500 && perIP+auth >= 1000-256 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("closed: %v past the cap, %v after a 401", perIP, auth)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := legitGET(t, ts.api+"/v1/collections/builds/keys/x", "X-API-Key", "ci-key-1"); code != 404 {
		t.Fatalf("legitimate GET: %d", code)
	}
	if v := metricValue(t, ts, "amaters_network_connections"); v > 256+2 {
		t.Errorf("%v connections open; at most 256 from the hostile address", v)
	}
}

// When the server nears network.max_connections, idle, slowloris and
// keep-alive connections are closed after a short idle time, so a new
// client is served although hostile clients from many addresses hold every
// slot.
func TestIdleConnectionsShedNearTheLimit(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Network.MaxConnections = 40 })
	addr := strings.TrimPrefix(ts.api, "http://")
	var h hostile
	defer h.close()
	for i := range 40 {
		h.open(t, fmt.Sprintf("127.0.0.%d", 2+i), addr, i)
	}
	waitMetric(t, ts, "amaters_network_connections", func(v float64) bool { return v == 40 })
	if code := legitGET(t, ts.api+"/v1/status"); code != 200 {
		t.Fatalf("legitimate GET: %d", code)
	}
	if v := metricValue(t, ts, `amaters_network_connections_closed_total{reason="idle_under_load"}`); v < 1 {
		t.Errorf("idle_under_load = %v", v)
	}
	// A connection with a request in a handler is never shed: a slow
	// upload keeps its connection while the hostile ones go.
	up := dialFrom(t, "127.0.0.1", addr)
	defer up.Close()
	fmt.Fprintf(up, "PUT /v1/collections/c/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\na")
	for _, c := range h.conns {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		io.Copy(io.Discard, c) // returns at EOF: the server closed it
	}
	up.Write([]byte("b"))
	up.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(up), nil)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("the slow upload: %v %v", resp, err)
	}
}

// A failed authentication closes its connection, so a client that cannot
// authenticate does not keep a slot.
func TestAuthenticationFailureClosesTheConnection(t *testing.T) {
	ts, _ := authServer(t, nil)
	c := dialFrom(t, "127.0.0.1", strings.TrimPrefix(ts.api, "http://"))
	defer c.Close()
	fmt.Fprint(c, "GET /v1/collections/builds/keys/x HTTP/1.1\r\nHost: x\r\nX-API-Key: wrong\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 401 || !resp.Close {
		t.Fatalf("bad key: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if n, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the connection stayed open after a 401: %v %v", n, err)
	}
	if v := metricValue(t, ts, `amaters_network_connections_closed_total{reason="auth_failure"}`); v != 1 {
		t.Errorf("auth_failure = %v, want 1", v)
	}
}

// rawExchange sends stream on a new connection and reads answers until the
// server closes it.
func rawExchange(t *testing.T, ts *testServer, stream string) []*http.Response {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", strings.TrimPrefix(ts.api, "http://"))
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, stream); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if err != io.EOF && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("reading answers: %v", err)
			}
			return out
		}
		io.Copy(io.Discard, resp.Body)
		out = append(out, resp)
		if resp.Close {
			return out
		}
	}
}

// A request with both Content-Length and Transfer-Encoding, or with
// Content-Length twice, is refused with 400 and the connection closed, so
// bytes after it never run as another request (RFC 9112 §6.1, §6.3).
func TestAmbiguousFramingRefused(t *testing.T) {
	ts := startServer(t, nil)
	smuggled := "PUT /v1/collections/c/keys/smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
	for name, stream := range map[string]string{
		"CL+TE": "PUT /v1/collections/c/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"TE+CL": "PUT /v1/collections/c/keys/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
		"CL×2":  "PUT /v1/collections/c/keys/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx" + smuggled,
	} {
		got := rawExchange(t, ts, stream)
		if len(got) != 1 || got[0].StatusCode != 400 || !got[0].Close {
			t.Errorf("%s: answers %v, want one 400 that closes", name, got)
		}
	}
	for _, key := range []string{"k", "smuggled"} {
		if r := do(t, "GET", ts.api+"/v1/collections/c/keys/"+key, nil); r.status != 404 {
			t.Errorf("key %s was written: %d", key, r.status)
		}
	}
	if v := metricValue(t, ts, `amaters_network_errors_total{kind="bad_framing"}`); v != 3 {
		t.Errorf(`amaters_network_errors_total{kind="bad_framing"} = %v, want 3`, v)
	}
	// Well-framed requests on one connection are all served: a body of
	// Content-Length, a chunked one, OPTIONS * (net/http's own answer),
	// and a long key.
	long := strings.Repeat("L", 600)
	got := rawExchange(t, ts, "PUT /v1/collections/c/keys/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"+
		"PUT /v1/collections/c/keys/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"+
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"+
		"PUT /v1/collections/c/keys/"+long+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nf"+
		"GET /v1/collections/c/keys/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	var codes []int
	for _, r := range got {
		codes = append(codes, r.StatusCode)
	}
	if fmt.Sprint(codes) != "[204 204 200 204 200]" {
		t.Fatalf("pipelined well-framed requests: %v", codes)
	}
}

// A start that fails because its port is taken leaves no data folder.
func TestBusyPortCreatesNoDataFolder(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := loopbackConfig(t)
	cfg.Server.BindAddress = busy.Addr().String()
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
	srv, err := server.New(cfg, server.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("Run on a busy port: %v", err)
	}
	if _, err := os.Stat(cfg.Server.DataDir); !os.IsNotExist(err) {
		t.Errorf("the data folder exists after a failed start: %v", err)
	}
}

// observability.access_log turns the access log off; access_log_file puts
// it in a file of its own, away from the server log.
func TestAccessLogSwitchAndFile(t *testing.T) {
	var logs syncBuffer
	ts := startServerWith(t, server.Options{Logger: newTextLogger(&logs)}, func(c *config.Config) { c.Observability.AccessLog = false })
	do(t, "GET", ts.api+"/v1/status", nil, "X-Request-Id", "off-1")
	if strings.Contains(logs.String(), "off-1") {
		t.Errorf("access log off, yet:\n%s", logs.String())
	}

	file := filepath.Join(t.TempDir(), "access.log")
	var logs2 syncBuffer
	ts = startServerWith(t, server.Options{Logger: newTextLogger(&logs2)}, func(c *config.Config) { c.Observability.AccessLogFile = file })
	do(t, "GET", ts.api+"/v1/status", nil, "X-Request-Id", "file-1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		if strings.Contains(string(data), "request_id=file-1 method=GET route=/v1/status") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log file holds %q", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(logs2.String(), "file-1") {
		t.Errorf("the access line went to the server log too:\n%s", logs2.String())
	}
}

// A client that goes away while sending its body is a network error
// (reset), logged as 499 rather than blamed with a 400; a 431 (headers too
// large, answered by net/http itself) counts as too_large.
func TestNetworkErrorsCounted(t *testing.T) {
	var logs syncBuffer
	ts := startServerWith(t, server.Options{Logger: newTextLogger(&logs)}, nil)
	c := dialFrom(t, "127.0.0.1", strings.TrimPrefix(ts.api, "http://"))
	fmt.Fprint(c, "PUT /v1/collections/c/keys/k HTTP/1.1\r\nHost: x\r\nX-Request-Id: gone-1\r\nContent-Length: 10\r\n\r\nabc")
	waitMetric(t, ts, "amaters_inflight_body_bytes", func(v float64) bool { return v > 0 })
	c.Close()
	waitMetric(t, ts, `amaters_network_errors_total{kind="reset"}`, func(v float64) bool { return v == 1 })
	waitFor(t, "the access line", func() bool { return strings.Contains(logs.String(), "request_id=gone-1") })
	if !strings.Contains(logs.String(), "status=499 code=client_closed bytes_in=3") {
		t.Errorf("access log:\n%s", logs.String())
	}
	if r := do(t, "GET", ts.api+"/v1/collections/c/keys/k", nil); r.status != 404 {
		t.Errorf("a half-sent value was stored: %d", r.status)
	}

	before := metricValue(t, ts, `amaters_network_errors_total{kind="too_large"}`)
	req, _ := http.NewRequest("GET", ts.api+"/v1/status", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 1<<20))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 431 {
		t.Fatalf("oversized headers: %v %v", resp, err)
	}
	resp.Body.Close()
	if v := metricValue(t, ts, `amaters_network_errors_total{kind="too_large"}`); v != before+1 {
		t.Errorf("too_large went from %v to %v after a 431", before, v)
	}
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
