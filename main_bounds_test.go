package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metric reads one series from the daemon's /metrics (-1: absent).
func metric(t *testing.T, d *daemon, series string) float64 {
	t.Helper()
	resp, err := http.Get(d.health + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// Uploads that declare 16 MiB and send 4 bytes hold what arrived, not what
// they declared: through the binary, the resident memory stays put, and a
// legitimate client is served meanwhile.
func TestSlowUploadsKeepMemoryBounded(t *testing.T) {
	d := startDaemon(t)
	before := metric(t, d, "process_resident_memory_bytes")
	attacker := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	const uploads = 250 // within network.max_connections_per_ip (256)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range uploads {
		c, err := attacker.Dial("tcp", d.api)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "PUT /v1/collections/slow/keys/k%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nabcd", i, 16<<20)
	}
	deadline := time.Now().Add(15 * time.Second)
	for metric(t, d, "amaters_inflight_body_bytes") != uploads*32<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("amaters_inflight_body_bytes = %v, want every upload holding its first 32 KiB buffer", metric(t, d, "amaters_inflight_body_bytes"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if grew := metric(t, d, "process_resident_memory_bytes") - before; grew > 100<<20 {
		t.Errorf("resident memory grew %.0f MiB for %d uploads of 4 bytes (they declared %d GiB)", grew/(1<<20), uploads, uploads*16>>10)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("PUT", "http://"+d.api+"/v1/collections/c/keys/k", strings.NewReader("v"))
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("a legitimate client among slow uploads: %v %v", resp, err)
	}
	resp.Body.Close()
}
