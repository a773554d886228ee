package watch_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
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

// t0 is the store's clock, fixed: expiries are judged by ExpireOnce's
// argument.
var t0 = time.UnixMilli(1_700_000_000_000).UTC()

// env is a store on lsm's memory FS feeding a hub, served on loopback by
// an httptest server at /v1/collections/{c}/watch. The identity is the
// X-Who header; a request with X-Gate has every write after its first
// held until gate is closed. committed records every committed event in
// commit order: the model's truth.
type env struct {
	t    testing.TB
	db   *lsm.DB
	st   *store.Store
	hub  *watch.Hub
	srv  *httptest.Server
	gate chan struct{}

	// beforeHistory and duringHistory, when set, run in the handler of
	// a request with header X-Hook: before each History call of the
	// watch (after it registered), and at each call's first event.
	beforeHistory, duringHistory func()

	mu        sync.Mutex
	committed []store.Event
}

// hooked is a watch.Source that runs the env's hooks.
type hooked struct {
	*store.Store
	e *env
}

func (h hooked) History(from uint64, fn func(store.Event) bool) (uint64, error) {
	if h.e.beforeHistory != nil {
		h.e.beforeHistory()
	}
	first := true
	return h.Store.History(from, func(ev store.Event) bool {
		if first && h.e.duringHistory != nil {
			h.e.duringHistory()
		}
		first = false
		return fn(ev)
	})
}

func newEnv(t testing.TB, opts watch.Options, historyRevisions uint64) *env {
	t.Helper()
	e := &env{t: t, gate: make(chan struct{})}
	db, err := lsm.Open("db", lsm.Options{FS: lsm.NewMemFS()})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	e.hub = watch.New(opts)
	e.st, err = store.Open(db, store.Options{
		HistoryRevisions: historyRevisions,
		ExpireInterval:   -1,
		TrimInterval:     -1,
		Now:              func() time.Time { return t0 },
		OnCommit: func(evs []store.Event) {
			e.mu.Lock()
			e.committed = append(e.committed, evs...)
			e.mu.Unlock()
			e.hub.Publish(evs)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/collections/{c}/watch", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Gate") != "" {
			w = &gated{ResponseWriter: w, gate: e.gate}
		}
		var src watch.Source = e.st
		if r.Header.Get("X-Hook") != "" {
			src = hooked{e.st, e}
		}
		e.hub.Serve(w, r, src, watch.Request{Collection: r.PathValue("c"), Identity: r.Header.Get("X-Who")})
	})
	e.srv = httptest.NewServer(mux)
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			select {
			case <-e.gate:
			default:
				close(e.gate)
			}
		})
		e.hub.Close()
		e.srv.Close()
		e.st.Close()
		e.db.Close()
	})
	return e
}

// gated holds every write after the first until gate is closed.
type gated struct {
	http.ResponseWriter
	gate   chan struct{}
	writes int
}

func (g *gated) Write(p []byte) (int, error) {
	if g.writes++; g.writes > 1 {
		<-g.gate
	}
	return g.ResponseWriter.Write(p)
}

func (g *gated) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// write commits ops as one request and returns its revision (0 when it
// changed nothing).
func (e *env) write(ops ...store.Op) uint64 {
	e.t.Helper()
	res, err := e.st.Write(context.Background(), store.Request{Ops: ops})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if !res.Changed {
		return 0
	}
	return res.Revision
}

func put(c, k, v string) store.Op {
	return store.Op{Kind: store.OpPut, Collection: c, Key: []byte(k), Value: []byte(v)}
}

func del(c, k string) store.Op {
	return store.Op{Kind: store.OpDelete, Collection: c, Key: []byte(k)}
}

// ev is an event as the tests compare it.
type ev struct {
	Kind      string
	Key       string
	Value     string
	HasValue  bool
	Rev       uint64
	ExpiresAt string
}

// expected is the committed events of c with key in [start, end) (end ""
// is no bound) and revision in [from, last].
func (e *env) expected(c, start, end string, from, last uint64) []ev {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []ev
	for _, x := range e.committed {
		k := string(x.Key)
		if x.Collection == c && x.Revision >= from && x.Revision <= last && k >= start && (end == "" || k < end) {
			out = append(out, fromStore(x))
		}
	}
	return out
}

func fromStore(x store.Event) ev {
	v := ev{Kind: x.Kind.String(), Key: string(x.Key), Rev: x.Revision}
	if x.Kind == store.EventPut {
		v.Value, v.HasValue = string(x.Value), true
		if !x.ExpiresAt.IsZero() {
			v.ExpiresAt = x.ExpiresAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}

// frame is one dispatched SSE block: an event, or a comment.
type frame struct {
	comment     string
	id          string
	hasID       bool
	event, data string
}

// stream is one watch request over HTTP.
type stream struct {
	resp   *http.Response
	rd     *bufio.Reader
	cancel context.CancelFunc
}

// open starts a watch of c with the raw query, the Last-Event-ID lastID
// (none when ""), and extra headers (name, value pairs). The answer may
// be any status.
func (e *env) open(c, query, lastID string, hdr ...string) *stream {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/collections/"+c+"/watch?"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	s := &stream{resp: resp, rd: bufio.NewReader(resp.Body), cancel: cancel}
	e.t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next reads the next frame; io.EOF at the stream's clean end.
func (s *stream) next() (frame, error) {
	var f frame
	seen := false
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			if err == io.EOF && (seen || line != "") {
				return f, io.ErrUnexpectedEOF
			}
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if seen {
				return f, nil
			}
			continue
		}
		seen = true
		name, val, _ := strings.Cut(line, ":")
		val = strings.TrimPrefix(val, " ")
		switch name {
		case "":
			f.comment = val
		case "id":
			f.id, f.hasID = val, true
		case "event":
			f.event = val
		case "data":
			f.data = val
		default:
			return f, io.ErrUnexpectedEOF
		}
	}
}

// event reads the next frame that is not a comment.
func (s *stream) event(t testing.TB) frame {
	t.Helper()
	for {
		f, err := s.next()
		if err != nil {
			t.Fatalf("reading an event: %v", err)
		}
		if f.comment == "" && (f.event != "" || f.data != "") {
			return f // comments and id-only blocks dispatch nothing
		}
	}
}

// read reads n events, failing on an end event.
func (s *stream) read(t testing.TB, n int) []ev {
	t.Helper()
	out := make([]ev, 0, n)
	for len(out) < n {
		f := s.event(t)
		if f.event == "error" {
			t.Fatalf("after %d of %d events: end %s", len(out), n, f.data)
		}
		out = append(out, decode(t, f))
	}
	return out
}

// decode checks an event frame's data and returns it.
func decode(t testing.TB, f frame) ev {
	t.Helper()
	var d struct {
		Key       []byte  `json:"key"`
		Value     *string `json:"value"`
		Revision  uint64  `json:"revision"`
		ExpiresAt string  `json:"expires_at"`
	}
	dec := json.NewDecoder(strings.NewReader(f.data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("event %q data %q: %v", f.event, f.data, err)
	}
	v := ev{Kind: f.event, Key: string(d.Key), Rev: d.Revision, ExpiresAt: d.ExpiresAt}
	if d.Value != nil {
		b, err := base64.StdEncoding.DecodeString(*d.Value)
		if err != nil {
			t.Fatalf("value %q: %v", *d.Value, err)
		}
		v.Value, v.HasValue = string(b), true
	}
	if (f.event == "put") != v.HasValue {
		t.Fatalf("event %q with value %v: %s", f.event, v.HasValue, f.data)
	}
	if f.hasID && f.id != strconvU(d.Revision) {
		t.Fatalf("id %q on an event of revision %d", f.id, d.Revision)
	}
	return v
}

func strconvU(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

type endData struct {
	Code       string `json:"code"`
	ResumeFrom uint64 `json:"resume_from"`
}

func decodeEnd(t testing.TB, f frame) endData {
	t.Helper()
	var d endData
	if f.event != "error" || json.Unmarshal([]byte(f.data), &d) != nil || d.Code == "" {
		t.Fatalf("want an end event, got %+v", f)
	}
	return d
}

func diff(t testing.TB, what string, got, want []ev) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d\n got %+v\nwant %+v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}
