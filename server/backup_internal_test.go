package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"amaters-server/lsm"
	"amaters-server/server/backup"
)

// These backup tests hold a backup in the middle of its stream (a
// ResponseWriter that blocks) or make the engine's checkpoint fail, which
// the public surface cannot do on demand.

// blockingWriter is a ResponseWriter whose body writes wait for release.
type blockingWriter struct {
	header  http.Header
	wrote   chan struct{} // closed at the first body write
	release chan struct{}
	once    sync.Once
	status  int
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{header: http.Header{}, wrote: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingWriter) Header() http.Header  { return b.header }
func (b *blockingWriter) WriteHeader(code int) { b.status = code }
func (b *blockingWriter) Flush()               {}
func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.wrote) })
	<-b.release
	return len(p), nil
}

// serveAborted serves r into w, and reports whether the handler cut the
// connection (panicked with http.ErrAbortHandler, which net/http turns
// into a closed connection).
func serveAborted(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

func TestOneBackupAtATime(t *testing.T) {
	s, _ := newTestServer(t, nil)
	h := s.apiHandler()
	for i := range 100 {
		s.store.Put("c", fmt.Sprint(i), []byte("v"))
	}
	first := newBlockingWriter()
	done := make(chan bool)
	go func() { done <- serveAborted(h, first, localRequest("GET", "/v1/admin/backup")) }()
	<-first.wrote

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/v1/admin/backup"))
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `"code":"conflict"`) || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("second backup while the first streams: %d %s", rec.Code, rec.Body)
	}

	close(first.release)
	if <-done {
		t.Fatal("the first backup was aborted")
	}
	if first.status != 200 {
		t.Fatalf("first backup: %d", first.status)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/v1/admin/backup"))
	if rec.Code != 200 {
		t.Fatalf("backup after the first finished: %d %s", rec.Code, rec.Body)
	}
	if _, err := backup.Verify(rec.Body); err != nil {
		t.Fatal(err)
	}
}

// TestBackupStopsWhenTheClientGoes: a cancelled request (client gone, or
// the server closing connections at the end of its drain) ends the stream
// by cutting the connection, and frees the backup slot.
func TestBackupStopsWhenTheClientGoes(t *testing.T) {
	s, logs := newTestServer(t, nil)
	h := s.apiHandler()
	s.store.Put("c", "k", []byte("v"))
	w := newBlockingWriter()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan bool)
	go func() { done <- serveAborted(h, w, localRequest("GET", "/v1/admin/backup").WithContext(ctx)) }()
	<-w.wrote
	cancel()
	close(w.release)
	if !<-done {
		t.Fatal("a cancelled backup was not cut off")
	}
	if !strings.Contains(logs.String(), `"msg":"backup aborted"`) || !strings.Contains(logs.String(), "context canceled") {
		t.Errorf("no abort logged:\n%s", logs)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/v1/admin/backup"))
	if rec.Code != 200 {
		t.Fatalf("backup after a cancelled one: %d %s", rec.Code, rec.Body)
	}
}

// failingEngine is an engine whose checkpoints fail, as they do once
// writes are stopped: the checkpoint's flush cannot write.
type failingEngine struct {
	Engine
	err error
}

func (f failingEngine) Checkpoint() (Checkpoint, error) { return nil, f.err }

func TestBackupWhenWritesAreStopped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"disk full", fmt.Errorf("lsm: checkpoint: %w", &os.PathError{Op: "write", Path: "000009.sst", Err: syscall.ENOSPC}), 507, "insufficient_storage"},
		{"writes stopped", fmt.Errorf("lsm: checkpoint: %w", lsm.ErrWritesStopped), 503, "unavailable"},
		{"closed", lsm.ErrClosed, 503, "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, nil)
			var e Engine = failingEngine{Engine: *s.eng.Load(), err: tc.err}
			s.eng.Store(&e)
			rec := httptest.NewRecorder()
			s.apiHandler().ServeHTTP(rec, localRequest("GET", "/v1/admin/backup"))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s %v", rec.Code, rec.Body, rec.Header())
			}
		})
	}
}
