package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/store"
	"amaters-server/server/watch"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWatchCommand runs `amaters-server watch` against a watch endpoint
// on loopback (a store and a hub, as the server wires them) and checks
// its lines in both formats, and that an interrupt ends it with 0.
func TestWatchCommand(t *testing.T) {
	db, err := lsm.Open("db", lsm.Options{FS: lsm.NewMemFS()})
	if err != nil {
		t.Fatal(err)
	}
	hub := watch.New(watch.Options{})
	st, err := store.Open(db, store.Options{HistoryRevisions: 100, ExpireInterval: -1, TrimInterval: -1, OnCommit: hub.Publish})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/collections/{c}/watch", func(w http.ResponseWriter, r *http.Request) {
		hub.Serve(w, r, st, watch.Request{Collection: r.PathValue("c")})
	})
	srv := httptest.NewServer(mux)
	defer func() {
		hub.Close()
		srv.Close()
		st.Close()
		db.Close()
	}()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, req := range []store.Request{
		{Ops: []store.Op{{Kind: store.OpPut, Collection: "c", Key: []byte("user/1"), Value: []byte("alice")}}},
		{Ops: []store.Op{
			{Kind: store.OpPut, Collection: "c", Key: []byte("user/2"), Value: []byte("b ob\n"), ExpiresAt: exp},
			{Kind: store.OpPut, Collection: "c", Key: []byte("other"), Value: []byte("x")},
			{Kind: store.OpDelete, Collection: "c", Key: []byte("user/1")},
		}},
		{Ops: []store.Op{{Kind: store.OpPut, Collection: "c", Key: []byte("user/\xff"), Value: nil}}},
	} {
		if res, err := st.Write(context.Background(), req); err != nil || res.Err != nil {
			t.Fatal(err, res.Err)
		}
	}
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{"human", []string{
			"1 put user/1=alice",
			`2 put user/2="b ob\n" expires 2030-01-02T03:04:05Z`,
			"2 delete user/1",
			`3 put "user/\xff"=""`,
		}},
		{"json", []string{
			`{"event":"put","key":"dXNlci8x","value":"YWxpY2U=","revision":1}`,
			`{"event":"put","key":"dXNlci8y","value":"YiBvYgo=","revision":2,"expires_at":"2030-01-02T03:04:05Z"}`,
			`{"event":"delete","key":"dXNlci8x","revision":2}`,
			`{"event":"put","key":"dXNlci//","value":"","revision":3}`,
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			code := make(chan int, 1)
			go func() {
				code <- run(ctx, []string{"watch", "c", "--addr", srv.URL, "--prefix", "user/", "--from", "1", "--format", tc.format}, nil, strings.NewReader(""), &stdout, &stderr)
			}()
			want := strings.Join(tc.want, "\n") + "\n"
			for stdout.String() != want {
				select {
				case c := <-code:
					t.Fatalf("exit %d before all lines; stdout:\n%s\nstderr:\n%s", c, stdout.String(), stderr.String())
				case <-time.After(10 * time.Millisecond):
				}
				if !strings.HasPrefix(want, stdout.String()) {
					t.Fatalf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
				}
			}
			cancel()
			if c := <-code; c != 0 {
				t.Fatalf("exit %d after an interrupt; stderr: %s", c, stderr.String())
			}
		})
	}
	var stderr syncBuffer
	if c := run(context.Background(), []string{"watch", "--addr", srv.URL}, nil, strings.NewReader(""), &syncBuffer{}, &stderr); c != 2 || !strings.Contains(stderr.String(), "collection is missing") {
		t.Fatalf("no collection: exit %d, %s", c, stderr.String())
	}
}
