package watch_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"amaters-server/server/watch"
)

// TestStalledClient opens a watch from a client that never reads, and
// commits large values until its handler is stuck in a write: the write
// deadline (WriteTimeout) ends it, while a reading watcher and the
// writers carry on. The reading watcher's keepalives pace the wait.
func TestStalledClient(t *testing.T) {
	e := newEnv(t, watch.Options{Keepalive: 10 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}, 1000)
	fast := e.open("c", "", "")
	fast.next()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/collections/c/watch HTTP/1.1\r\nHost: x\r\n\r\n")
	// Its answer's first line says it registered; then it is never read.
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("stalled client's answer %q %v", line, err)
	}
	big := strings.Repeat("v", 1<<20)
	for i := 0; e.hub.Metrics().Watchers == 2; i++ {
		if i < 64 { // far more than loopback socket buffers hold
			r := e.write(put("c", fmt.Sprint("k", i), big))
			if got := decode(t, fast.event(t)); got.Rev != r {
				t.Fatalf("fast watcher got %d, want %d", got.Rev, r)
			}
			continue
		}
		if i > 64+1000 {
			t.Fatal("the stalled watch is still open after 1000 keepalives of the other")
		}
		if f, err := fast.next(); err != nil || f.comment != "keepalive" {
			t.Fatalf("fast watcher: %+v %v", f, err)
		}
	}
	r := e.write(put("c", "after", ""))
	if got := decode(t, fast.event(t)); got.Rev != r {
		t.Fatalf("fast watcher after the cut got %v", got)
	}
}

// TestHTTP2 streams over HTTP/2 (TLS), as browsers do.
func TestHTTP2(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	srv := httptest.NewUnstartedServer(e.srv.Config.Handler)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		e.hub.Close()
		srv.Close()
	})
	r1 := e.write(put("c", "a", "1"))
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/v1/collections/c/watch?from=1", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
	}
	s := &stream{resp: resp, rd: bufio.NewReader(resp.Body), cancel: func() {}}
	if got := decode(t, s.event(t)); got.Rev != r1 {
		t.Fatalf("history event %v", got)
	}
	r2 := e.write(put("c", "b", "2"))
	if got := decode(t, s.event(t)); got.Rev != r2 {
		t.Fatalf("live event %v", got)
	}
}
