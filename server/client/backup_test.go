package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"amaters-server/server/backup"
	"amaters-server/server/client"
	"amaters-server/server/config"
)

// TestBackup: the saved file appears only once complete and
// verified, an existing file is never replaced, and a refusal leaves
// nothing behind.
func TestBackup(t *testing.T) {
	addr := startServer(t, func(c *config.Config) { c.Auth.JWTSecret = testSecret })
	admin, _ := client.New(addr, client.Options{Token: token(t, "bob", []string{"admin"}, nil)})
	reader, _ := client.New(addr, client.Options{Token: token(t, "rita", []string{"reader"}, []string{"*"})})
	dir := t.TempDir()
	out := filepath.Join(dir, "b.tar")

	if _, _, err := reader.Backup(t.Context(), out, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("reader: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("a refused backup left %v", names)
	}
	var calls int
	var last backup.Progress
	info, n, err := admin.Backup(t.Context(), out, func(p backup.Progress) { calls++; last = p })
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil || st.Size() != n || last.Done != n || last.Total != n || calls == 0 {
		t.Fatalf("saved %v (%v), reported %d bytes, last progress %+v", st, err, n, last)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	f, _ := os.Open(out)
	again, err := backup.Verify(f)
	f.Close()
	if err != nil || again != info {
		t.Fatalf("saved file: %+v %v, want %+v", again, err, info)
	}
	if _, _, err := admin.Backup(t.Context(), out, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second backup to the same file: %v", err)
	}
	if names := dirNames(t, dir); fmt.Sprint(names) != "[b.tar]" {
		t.Fatalf("folder holds %v", names)
	}
}

// TestBackupGivesUpOnASilentServer: a server that stops sending
// mid-archive is abandoned after the client's timeout, and nothing is
// kept.
func TestBackupGivesUpOnASilentServer(t *testing.T) {
	archive := sampleArchive(t)
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Write(archive[:len(archive)/2])
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // silent until the client hangs up
	}))
	defer stall.Close()
	c, err := client.New(stall.URL, client.Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, _, err = c.Backup(t.Context(), filepath.Join(dir, "b.tar"), nil)
	if err == nil || !strings.Contains(err.Error(), "sent nothing for 50ms") {
		t.Fatalf("got %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("left %v", names)
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
	c, err := client.New(srv.URL, client.Options{Timeout: time.Minute})
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
