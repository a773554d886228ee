package watch_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/store"
	"amaters-server/server/watch"
)

// TestResumeAcrossRestart ends a watch by closing the hub (the server's
// drain), closes the store and the database, opens them again on the
// same files with a new hub, and resumes from the end event's
// resume_from: the two streams together are every committed change,
// once, in order.
func TestResumeAcrossRestart(t *testing.T) {
	fs := lsm.NewMemFS()
	var committed []store.Event // written by OnCommit, read once the store is closed or idle
	type server struct {
		hub *watch.Hub
		st  *store.Store
		db  *lsm.DB
		srv *httptest.Server
	}
	start := func() *server {
		db, err := lsm.Open("db", lsm.Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		s := &server{db: db, hub: watch.New(watch.Options{})}
		s.st, err = store.Open(db, store.Options{HistoryRevisions: 1000, ExpireInterval: -1, TrimInterval: -1,
			Now: func() time.Time { return t0 },
			OnCommit: func(evs []store.Event) {
				committed = append(committed, evs...)
				s.hub.Publish(evs)
			}})
		if err != nil {
			t.Fatal(err)
		}
		s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.hub.Serve(w, r, s.st, watch.Request{Collection: "c"})
		}))
		return s
	}
	stop := func(s *server) {
		s.hub.Close()
		s.srv.Close()
		if err := s.st.Close(); err != nil {
			t.Error(err)
		}
		if err := s.db.Close(); err != nil {
			t.Error(err)
		}
	}
	write := func(s *server, i int) {
		ops := []store.Op{put("c", fmt.Sprint("k", i%3), strconv.Itoa(i))}
		if i%4 == 0 {
			ops = append(ops, del("c", fmt.Sprint("k", (i+1)%3)), put("other", "x", ""))
		}
		if _, err := s.st.Write(t.Context(), store.Request{Ops: ops}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(s *server, from uint64) (*stream, func()) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", s.srv.URL+"/?from="+strconv.FormatUint(from, 10), nil)
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		st := &stream{resp: resp, rd: bufio.NewReader(resp.Body), cancel: func() {}}
		return st, func() { resp.Body.Close() }
	}

	s1 := start()
	for i := range 10 {
		write(s1, i)
	}
	w1, close1 := read(s1, 1)
	var got []ev
	for {
		f := w1.event(t)
		if f.event == "error" {
			t.Fatalf("before the restart: %s", f.data)
		}
		got = append(got, decode(t, f))
		if got[len(got)-1].Rev == s1.st.Revision() && f.hasID {
			break
		}
	}
	write(s1, 10) // live, then the drain
	s1.hub.Close()
	var end endData
	for {
		f := w1.event(t)
		if f.event == "error" {
			end = decodeEnd(t, f)
			break
		}
		got = append(got, decode(t, f))
	}
	close1()
	stop(s1)
	if end.Code != "unavailable" {
		t.Fatalf("at the drain: %+v", end)
	}

	s2 := start()
	defer stop(s2)
	for i := 11; i < 20; i++ {
		write(s2, i)
	}
	last := s2.st.Revision()
	w2, close2 := read(s2, end.ResumeFrom)
	defer close2()
	var want []ev
	for _, x := range committed {
		if x.Collection == "c" {
			want = append(want, fromStore(x))
		}
	}
	for len(got) < len(want) {
		got = append(got, decode(t, w2.event(t)))
	}
	diff(t, "across the restart", got, want)
	if got[len(got)-1].Rev != last {
		t.Fatalf("last revision %d, want %d", got[len(got)-1].Rev, last)
	}
}
