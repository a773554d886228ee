package server

// Operator-facing details found in a review: each of the first three
// tests failed before its fix.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// HostPort of an https URL with an IPv6 host and no port (it once doubled
// the brackets, so stop's wait and bench dialled nothing).
func TestHostPortIPv6URL(t *testing.T) {
	c, err := NewClient("https://[::1]", ClientOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.HostPort(), "[::1]:443"; got != want {
		t.Fatalf("HostPort() = %q, want %q", got, want)
	}
}

// The notifier reaches an abstract socket named "@name".
func TestNotifyAbstractSocket(t *testing.T) {
	name := "@amaters-review2-" + strconv.Itoa(os.Getpid())
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs on Linux, which has abstract sockets:", err)
		}
		t.Skip("no abstract sockets here:", err)
	}
	defer ln.Close()
	notifier{socket: name, log: discardLog()}.send("READY=1")
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := ln.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

// A backup cancelled mid-stream (Ctrl-C) leaves neither FILE nor
// FILE.partial.
func TestBackupCancelledLeavesNothing(t *testing.T) {
	sent := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(200)
		w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		close(sent)
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, ClientOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.tar")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-sent; cancel() }()
	if _, _, err := c.Backup(ctx, out, nil); err == nil {
		t.Fatal("backup succeeded")
	}
	for _, p := range []string{out, out + ".partial"} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
}
