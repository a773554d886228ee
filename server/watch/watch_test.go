package watch_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"amaters-server/server/store"
	"amaters-server/server/watch"
)

// history writes a mix of puts, deletes, batches across collections and
// expiries, and returns the last revision.
func (e *env) history(n int) uint64 {
	e.t.Helper()
	var last uint64
	for i := range n {
		k := fmt.Sprintf("a/%d", i%5)
		switch i % 6 {
		case 0, 1:
			last = e.write(put("c", k, fmt.Sprint("v", i)))
		case 2:
			last = e.write(put("c", "b/x", ""), put("other", k, "o"), del("c", "a/0"), put("c", "a/9", fmt.Sprint("w", i)))
		case 3:
			if r := e.write(del("c", k)); r != 0 {
				last = r
			}
		case 4:
			op := put("c", "a/exp", "e")
			op.ExpiresAt = t0.Add(time.Millisecond)
			last = e.write(op)
		case 5:
			if _, err := e.st.ExpireOnce(t0.Add(time.Hour), 0); err != nil {
				e.t.Fatal(err)
			}
			last = e.st.Revision()
		}
	}
	return last
}

// TestResume starts watches at every revision of the history, by from
// and by Last-Event-ID, whole and by prefix, and checks each against the
// committed events, and that the next event is the next commit (nothing
// extra, no gap at the hand-over to live).
func TestResume(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	watch.SetPageEvents(e.hub, 4) // pages end inside batches: never split one
	last := e.history(36)
	end := last + 1
	for from := uint64(1); from <= end; from++ {
		for _, tc := range []struct {
			name, query, lastID, start, end string
		}{
			{name: "from", query: "from=" + strconv.FormatUint(from, 10)},
			{name: "last-event-id", query: "from=1", lastID: strconv.FormatUint(from-1, 10)},
			{name: "prefix", query: "prefix=a%2F&from=" + strconv.FormatUint(from, 10), start: "a/", end: "a0"},
			{name: "range", query: "start=a%2F2&end=b&from=" + strconv.FormatUint(from, 10), start: "a/2", end: "b"},
		} {
			if tc.lastID == "0" {
				tc.lastID = "" // no Last-Event-ID: from=1
			}
			want := e.expected("c", tc.start, tc.end, from, last)
			s := e.open("c", tc.query, tc.lastID)
			if s.resp.StatusCode != 200 || s.resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("%s from %d: %d %s", tc.name, from, s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
			}
			diff(t, fmt.Sprintf("%s from %d", tc.name, from), s.read(t, len(want)), want)
			rev := e.write(put("c", "a/live", "x"))
			if got := decode(t, s.event(t)); got.Rev != rev || got.Key != "a/live" {
				t.Fatalf("%s from %d: after the history, %v; want the live put at %d", tc.name, from, got, rev)
			}
			s.close()
			last = rev
		}
	}
}

// TestIDs checks that a batch's events carry the id on the last only,
// and that a resume from that id skips the batch and nothing else.
func TestIDs(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	r1 := e.write(put("c", "k1", "1"), put("c", "k2", "2"), put("other", "k", "x"), del("c", "k1"))
	r2 := e.write(put("c", "k3", "3"))
	s := e.open("c", "from=1", "")
	var ids []string
	for range 4 {
		f := s.event(t)
		decode(t, f)
		ids = append(ids, fmt.Sprintf("%v:%s", f.hasID, f.id))
	}
	want := []string{"false:", "false:", "true:" + strconv.FormatUint(r1, 10), "true:" + strconv.FormatUint(r2, 10)}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	s = e.open("c", "", strconv.FormatUint(r1, 10))
	// The start block names the revision the stream starts after, so a
	// WHATWG client cut inside the first batch still resumes right.
	if f, err := s.next(); err != nil || f.comment != "watching" || !f.hasID || f.id != strconv.FormatUint(r1, 10) {
		t.Fatalf("start block %+v %v", f, err)
	}
	if got := decode(t, s.event(t)); got.Rev != r2 {
		t.Fatalf("resumed after %d at %v", r1, got)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	for _, tc := range []struct{ name, query, lastID string }{
		{"unknown", "limit=3", ""},
		{"repeated", "from=1&from=2", ""},
		{"from", "from=x", ""},
		{"negative", "from=-1", ""},
		{"last-event-id", "", "abc"},
		{"query", "prefix=%zz", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.open("c", tc.query, tc.lastID)
			body, _ := io.ReadAll(s.resp.Body)
			var got struct {
				Error struct{ Code, Message string }
			}
			if s.resp.StatusCode != 400 || json.Unmarshal(body, &got) != nil || got.Error.Code != "invalid_argument" || got.Error.Message == "" {
				t.Fatalf("%d %s", s.resp.StatusCode, body)
			}
		})
	}
}

// TestCompacted checks the 410 before the stream starts, with the oldest
// revision, which then works.
func TestCompacted(t *testing.T) {
	e := newEnv(t, watch.Options{}, 10)
	var last uint64
	for i := range 30 {
		last = e.write(put("c", fmt.Sprint("k", i), "v"))
	}
	if _, err := e.st.TrimHistory(0); err != nil {
		t.Fatal(err)
	}
	oldest := e.st.Metrics().OldestRevision
	if oldest != last-9 {
		t.Fatalf("oldest %d after trimming to 10 of %d", oldest, last)
	}
	for _, tc := range []struct{ query, lastID string }{
		{"from=1", ""}, {"from=" + strconv.FormatUint(oldest-1, 10), ""}, {"from=1000", strconv.FormatUint(oldest-2, 10)},
	} {
		s := e.open("c", tc.query, tc.lastID)
		body, _ := io.ReadAll(s.resp.Body)
		var got struct {
			Error struct {
				Code           string
				Message        string
				OldestRevision uint64 `json:"oldest_revision"`
			}
		}
		if s.resp.StatusCode != http.StatusGone || json.Unmarshal(body, &got) != nil ||
			got.Error.Code != "compacted" || got.Error.OldestRevision != oldest {
			t.Fatalf("%+v: %d %s", tc, s.resp.StatusCode, body)
		}
	}
	s := e.open("c", "from="+strconv.FormatUint(oldest, 10), "")
	want := e.expected("c", "", "", oldest, last)
	diff(t, "from the oldest", s.read(t, len(want)), want)
}

// TestSlowConsumer blocks one stream's writes while writers commit three
// buffers' worth: the writers do not wait (the test would hang), the
// fast watcher gets everything, and the slow one ends with slow_consumer
// after a prefix of the events and resumes from resume_from to the end.
func TestSlowConsumer(t *testing.T) {
	const buffer = 16
	e := newEnv(t, watch.Options{BufferEvents: buffer}, 1000)
	start := e.write(put("c", "start", "")) + 1
	fast := e.open("c", "", "")
	slow := e.open("c", "", "", "X-Gate", "1")
	for _, s := range []*stream{fast, slow} {
		if f, err := s.next(); err != nil || f.comment != "watching" {
			t.Fatalf("first frame %+v %v", f, err) // registered
		}
	}
	var last uint64
	for i := range 3 * buffer {
		last = e.write(put("c", fmt.Sprint("k", i), "v"))
		// The fast watcher keeps up: one event at a time.
		if got := decode(t, fast.event(t)); got.Rev != last {
			t.Fatalf("fast watcher got %v, want revision %d", got, last)
		}
	}
	close(e.gate)
	want := e.expected("c", "", "", start, last)
	var got []ev
	var end endData
	for {
		f := slow.event(t)
		if f.event == "error" {
			end = decodeEnd(t, f)
			break
		}
		got = append(got, decode(t, f))
	}
	if end.Code != "slow_consumer" || len(got) >= len(want) {
		t.Fatalf("slow watcher: %d of %d events, then %+v", len(got), len(want), end)
	}
	diff(t, "slow watcher's prefix", got, want[:len(got)])
	if wantFrom := want[len(got)].Rev; end.ResumeFrom != wantFrom {
		t.Fatalf("resume_from %d, want %d", end.ResumeFrom, wantFrom)
	}
	if _, err := slow.next(); err != io.EOF {
		t.Fatalf("after the end event: %v, want EOF", err)
	}
	rest := e.open("c", "from="+strconv.FormatUint(end.ResumeFrom, 10), "")
	diff(t, "resumed", rest.read(t, len(want)-len(got)), want[len(got):])
	if m := e.hub.Metrics(); m.SlowConsumers != 1 || m.Watchers != 2 {
		t.Fatalf("metrics %+v", m)
	}
}

// TestEnds checks the unavailable event at Close and 503 after it, and
// permission_denied at Revoke for the identities no longer allowed.
func TestEnds(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	alice := e.open("c", "", "", "X-Who", "alice")
	bob := e.open("c", "", "", "X-Who", "bob")
	bobOther := e.open("other", "", "", "X-Who", "bob")
	for _, s := range []*stream{alice, bob, bobOther} {
		s.next()
	}
	e.hub.Revoke(func(who any, c string) bool { return who != "bob" || c != "c" })
	if d := decodeEnd(t, bob.event(t)); d.Code != "permission_denied" {
		t.Fatalf("bob: %+v", d)
	}
	if _, err := bob.next(); err != io.EOF { // and its handler is done
		t.Fatalf("after bob's end event: %v", err)
	}
	r := e.write(put("c", "k", "v"), put("other", "k", "v"))
	for _, s := range []*stream{alice, bobOther} {
		if got := decode(t, s.event(t)); got.Rev != r {
			t.Fatalf("after the revocation of another watch: %v", got)
		}
	}
	e.hub.Close()
	for _, s := range []*stream{alice, bobOther} {
		if d := decodeEnd(t, s.event(t)); d.Code != "unavailable" || d.ResumeFrom != r+1 {
			t.Fatalf("at Close: %+v, want unavailable resuming from %d", d, r+1)
		}
		if _, err := s.next(); err != io.EOF {
			t.Fatalf("after the end event: %v", err)
		}
	}
	s := e.open("c", "", "")
	if s.resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %d", s.resp.StatusCode)
	}
	if m := e.hub.Metrics(); m.Watchers != 0 {
		t.Fatalf("metrics after Close: %+v", m)
	}
}

func TestMaxWatchers(t *testing.T) {
	e := newEnv(t, watch.Options{MaxWatchers: 2}, 1000)
	a, b := e.open("c", "", ""), e.open("c", "", "")
	a.next()
	b.next()
	s := e.open("c", "", "")
	if s.resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third watch: %d", s.resp.StatusCode)
	}
	a.close()
	// The slot frees once a's handler sees its client gone: a write to
	// it fails, or its context ends; wait for the count rather than time.
	for e.hub.Metrics().Watchers > 1 {
		e.write(put("c", "k", "v"))
		b.event(t)
	}
	if s := e.open("c", "", ""); s.resp.StatusCode != 200 {
		t.Fatalf("after one closed: %d", s.resp.StatusCode)
	}
}

func TestKeepalive(t *testing.T) {
	e := newEnv(t, watch.Options{Keepalive: time.Millisecond}, 1000)
	s := e.open("c", "", "")
	for n := 0; n < 3; {
		f, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if f.comment == "keepalive" {
			n++
		}
	}
}

// TestEmptyAndExpiry checks the data of an empty value and of a value
// with an expiry, and the expire event.
func TestEmptyAndExpiry(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	s := e.open("c", "", "")
	s.next()
	op := put("c", "k", "v")
	op.ExpiresAt = t0.Add(1500 * time.Millisecond)
	e.write(op, put("c", "e", ""))
	if _, err := e.st.ExpireOnce(t0.Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	var data []string
	for range 3 {
		f := s.event(t)
		data = append(data, f.event+" "+f.data)
	}
	want := []string{
		`put {"key":"aw==","value":"dg==","revision":1,"expires_at":"2023-11-14T22:13:21.5Z"}`,
		`put {"key":"ZQ==","value":"","revision":1}`,
		`expire {"key":"aw==","revision":2}`,
	}
	if fmt.Sprint(data) != fmt.Sprint(want) {
		t.Fatalf("got\n%q\nwant\n%q", data, want)
	}
	_ = store.EventPut
}

// TestLongStream serves the watch from a server with 100 ms read and
// write timeouts: a stream that keeps being read outlives both many
// times over (its keepalives count the time), and still delivers.
func TestLongStream(t *testing.T) {
	e := newEnv(t, watch.Options{Keepalive: 20 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}, 1000)
	srv := httptest.NewUnstartedServer(e.srv.Config.Handler)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(func() {
		e.hub.Close()
		srv.Close()
	})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/v1/collections/c/watch", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	s := &stream{resp: resp, rd: bufio.NewReader(resp.Body), cancel: func() {}}
	for n := 0; n < 30; { // 30 × 20 ms: six times the server's timeouts, three times the hub's WriteTimeout
		f, err := s.next()
		if err != nil {
			t.Fatalf("after %d keepalives: %v", n, err)
		}
		if f.comment == "keepalive" {
			n++
		}
	}
	r := e.write(put("c", "k", "v"))
	if got := decode(t, s.event(t)); got.Rev != r {
		t.Fatalf("got %v, want revision %d", got, r)
	}
}

// TestRevisionHeader checks Amaters-Revision on the answer: the revision
// when the watch started, after which a watch without from begins.
func TestRevisionHeader(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	e.write(put("c", "a", "1"))
	r := e.write(put("c", "b", "2"))
	s := e.open("c", "", "")
	if got := s.resp.Header.Get("Amaters-Revision"); got != strconv.FormatUint(r, 10) {
		t.Fatalf("Amaters-Revision %q, want %d", got, r)
	}
	r3 := e.write(put("c", "c", "3"))
	if got := decode(t, s.event(t)); got.Rev != r3 {
		t.Fatalf("first event %v", got)
	}
	if s := e.open("c", "from=1", ""); s.resp.Header.Get("Amaters-Revision") != strconv.FormatUint(r+1, 10) {
		t.Fatalf("with from: Amaters-Revision %q", s.resp.Header.Get("Amaters-Revision"))
	}
}

// TestQueueOverflow holds the publisher while writers commit more than
// its queue holds: the writers do not wait, every watch ends as a slow
// consumer at the first revision it did not get, and resuming there
// gives the rest.
func TestQueueOverflow(t *testing.T) {
	e := newEnv(t, watch.Options{QueueEvents: 4}, 1000)
	start := e.write(put("c", "start", "")) + 1
	s := e.open("c", "", "")
	s.next()
	release := watch.HoldPublisher(e.hub)
	var last uint64
	for i := range 20 {
		last = e.write(put("c", fmt.Sprint("k", i), "v"))
	}
	release()
	last = e.write(put("c", "zz", "")) // after the lost ones: a watch that skipped them gets it
	want := e.expected("c", "", "", start, last)
	var got []ev
	var end endData
	for {
		f := s.event(t)
		if f.event == "error" {
			end = decodeEnd(t, f)
			break
		}
		if v := decode(t, f); len(got) == len(want) || v != want[len(got)] {
			t.Fatalf("event %d is %v: the dropped groups were skipped silently", len(got), v)
		}
		got = append(got, decode(t, f))
	}
	if end.Code != "slow_consumer" || len(got) >= len(want) {
		t.Fatalf("%d of %d events, then %+v", len(got), len(want), end)
	}
	diff(t, "before the end", got, want[:len(got)])
	if end.ResumeFrom != want[len(got)].Rev {
		t.Fatalf("resume_from %d, want %d", end.ResumeFrom, want[len(got)].Rev)
	}
	rest := e.open("c", "from="+strconv.FormatUint(end.ResumeFrom, 10), "")
	diff(t, "resumed", rest.read(t, len(want)-len(got)), want[len(got):])
}

func TestNilHubMetrics(t *testing.T) {
	var h *watch.Hub
	if m := h.Metrics(); m != (watch.Metrics{}) {
		t.Fatal(m)
	}
}

// TestGap: changes the hub never saw (a member's snapshot install) end
// every watch as a slow consumer at its first revision not delivered, and
// a watch from there reads them from the history.
func TestGap(t *testing.T) {
	e := newEnv(t, watch.Options{}, 1000)
	s := e.open("c", "", "")
	s.next()
	r1 := e.write(put("c", "a", "1"))
	if got := decode(t, s.event(t)); got.Rev != r1 {
		t.Fatalf("before the gap: %v", got)
	}
	e.hub.Gap()
	d := decodeEnd(t, s.event(t))
	if d.Code != "slow_consumer" || d.ResumeFrom != r1+1 {
		t.Fatalf("after Gap: %+v, want slow_consumer resuming from %d", d, r1+1)
	}
	r2 := e.write(put("c", "b", "2"))
	again := e.open("c", "", "", "Last-Event-ID", fmt.Sprint(d.ResumeFrom-1))
	again.next()
	if got := decode(t, again.event(t)); got.Rev != r2 {
		t.Fatalf("resumed: %v, want revision %d", got, r2)
	}
}
