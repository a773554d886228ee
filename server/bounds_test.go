package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

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
