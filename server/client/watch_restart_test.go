package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/client"
	"amaters-server/server/store"
	"amaters-server/server/watch"
)

// restartable is a store, hub and HTTP server on one loopback port and
// one memory FS, which it can stop and start again.
type restartable struct {
	t    *testing.T
	fs   lsm.FS
	addr string

	db  *lsm.DB
	st  *store.Store
	hub *watch.Hub
	srv *http.Server

	mu        sync.Mutex
	committed []store.Event
}

func (r *restartable) start() {
	r.t.Helper()
	var err error
	if r.db, err = lsm.Open("db", lsm.Options{FS: r.fs}); err != nil {
		r.t.Fatal(err)
	}
	r.hub = watch.New(watch.Options{})
	r.st, err = store.Open(r.db, store.Options{HistoryRevisions: 1 << 20, ExpireInterval: -1, TrimInterval: -1,
		OnCommit: func(evs []store.Event) {
			r.mu.Lock()
			r.committed = append(r.committed, evs...)
			r.mu.Unlock()
			r.hub.Publish(evs)
		}})
	if err != nil {
		r.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	mux := http.NewServeMux()
	hub, st := r.hub, r.st
	mux.HandleFunc("GET /v1/collections/{c}/watch", func(w http.ResponseWriter, req *http.Request) {
		hub.Serve(w, req, st, watch.Request{Collection: req.PathValue("c")})
	})
	r.srv = &http.Server{Handler: mux}
	go r.srv.Serve(ln)
}

// stop ends the watches (unavailable), then the server and the store, in
// the order the daemon does.
func (r *restartable) stop() {
	r.hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.srv.Shutdown(ctx)
	r.st.Close()
	r.db.Close()
}

func (r *restartable) put(k string) uint64 {
	r.t.Helper()
	res, err := r.st.Write(context.Background(), store.Request{Ops: []store.Op{
		{Kind: store.OpPut, Collection: "c", Key: []byte(k), Value: []byte("v")},
		{Kind: store.OpPut, Collection: "c", Key: []byte(k + "/2"), Value: []byte("w")},
	}})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return res.Revision
}

// TestWatchAcrossRestarts follows a collection while the server is
// stopped and started again three times, with writes while it is down
// from the watcher's point of view (between the hub's close and the new
// server): the watcher reconnects by itself and sees every committed
// event once, in order.
func TestWatchAcrossRestarts(t *testing.T) {
	r := &restartable{t: t, fs: lsm.NewMemFS(), addr: "127.0.0.1:0"}
	r.start()
	defer func() { r.stop() }()
	c, err := client.New(r.addr, client.Options{Retry: client.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond, Seed: 3}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := r.put("k0")
	events, errc := c.Watch(ctx, "c", client.WatchOptions{From: first, Reconnects: -1})
	var got []client.Event
	recv := func(n int) {
		for range n {
			ev, ok := <-events
			if !ok {
				t.Fatalf("the watch ended: %v", <-errc)
			}
			got = append(got, ev)
		}
	}
	recv(2)
	for round := 1; round <= 3; round++ {
		r.put(fmt.Sprint("k", round, "a"))
		r.stop()
		// Written with the server down: only the history has it.
		if err := r.reopenAndWrite(fmt.Sprint("k", round, "b")); err != nil {
			t.Fatal(err)
		}
		r.start()
		r.put(fmt.Sprint("k", round, "c"))
		recv(6)
	}
	cancel()
	for range events {
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("end: %v", err)
	}
	r.mu.Lock()
	want := r.committed
	r.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Revision != want[i].Revision || string(got[i].Key) != string(want[i].Key) {
			t.Fatalf("event %d: %s@%d, want %s@%d", i, got[i].Key, got[i].Revision, want[i].Key, want[i].Revision)
		}
	}
}

// reopenAndWrite opens the store alone (no server), writes k, closes it.
func (r *restartable) reopenAndWrite(k string) error {
	db, err := lsm.Open("db", lsm.Options{FS: r.fs})
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := store.Open(db, store.Options{HistoryRevisions: 1 << 20, ExpireInterval: -1, TrimInterval: -1,
		OnCommit: func(evs []store.Event) {
			r.mu.Lock()
			r.committed = append(r.committed, evs...)
			r.mu.Unlock()
		}})
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.Write(context.Background(), store.Request{Ops: []store.Op{
		{Kind: store.OpPut, Collection: "c", Key: []byte(k), Value: []byte("v")},
		{Kind: store.OpPut, Collection: "c", Key: []byte(k + "/2"), Value: []byte("w")},
	}})
	if err == nil {
		err = res.Err
	}
	return err
}
