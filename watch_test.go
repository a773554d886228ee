package main

import (
	"bufio"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWatchThroughTheBinary: a watch from revision 1 streams the past
// writes from the on-disk history and then a live one, in order; SIGTERM
// ends it with the "unavailable" event and where to resume; after the
// restart a watch from there sees the write made while it was away, once.
func TestWatchThroughTheBinary(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := startDaemon(t, "--engine", "lsm", "--data-dir", data)
	put := func(d *daemon, key, value string) {
		t.Helper()
		req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/v1/collections/c/keys/%s", d.api, key), strings.NewReader(value))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("PUT %s: %v %v", key, resp, err)
		}
		resp.Body.Close()
	}
	put(d, "a", "1")
	put(d, "b", "2")

	// lines reads the stream's data and event lines, skipping comments,
	// ids and blank lines, until want of them arrived.
	open := func(d *daemon, from int) (*http.Response, *bufio.Scanner) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://%s/v1/collections/c/watch?from=%d", d.api, from))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("watch from %d: %v %v", from, resp, err)
		}
		return resp, bufio.NewScanner(resp.Body)
	}
	next := func(sc *bufio.Scanner) string {
		t.Helper()
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "event: ") || strings.HasPrefix(l, "data: ") {
				return l
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return ""
	}
	resp, sc := open(d, 1)
	defer resp.Body.Close()
	want := []string{
		"event: put", `data: {"key":"YQ==","value":"MQ==","revision":1}`,
		"event: put", `data: {"key":"Yg==","value":"Mg==","revision":2}`,
	}
	for _, w := range want {
		if got := next(sc); got != w {
			t.Fatalf("history: got %q, want %q", got, w)
		}
	}
	put(d, "a", "3") // live
	for _, w := range []string{"event: put", `data: {"key":"YQ==","value":"Mw==","revision":3}`} {
		if got := next(sc); got != w {
			t.Fatalf("live: got %q, want %q", got, w)
		}
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	if got := next(sc); got != "event: error" {
		t.Fatalf("at shutdown: got %q, want the error event", got)
	}
	if got := next(sc); !strings.Contains(got, `"code":"unavailable"`) || !strings.Contains(got, `"resume_from":4`) {
		t.Fatalf("at shutdown: got %q, want unavailable with resume_from 4", got)
	}
	if code := d.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	d2 := startDaemon(t, "--engine", "lsm", "--data-dir", data)
	put(d2, "b", "4")
	resp2, sc2 := open(d2, 4)
	defer resp2.Body.Close()
	for _, w := range []string{"event: put", `data: {"key":"Yg==","value":"NA==","revision":4}`} {
		if got := next(sc2); got != w {
			t.Fatalf("after the restart: got %q, want %q", got, w)
		}
	}
}
