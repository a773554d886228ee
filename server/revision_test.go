package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"amaters-server/server"
	"amaters-server/server/config"
)

func startClocked(t *testing.T, mutate func(*config.Config)) (*testServer, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return startServerWith(t, server.Options{Logger: discardLogger(), Now: clock.now}, mutate), clock
}

func revOf(t *testing.T, r result) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(r.header.Get("Amaters-Revision"), 10, 64)
	if err != nil {
		t.Fatalf("Amaters-Revision %q on a %d answer", r.header.Get("Amaters-Revision"), r.status)
	}
	return n
}

// TestConditionalWrites walks API.md §7's guards through HTTP.
func TestConditionalWrites(t *testing.T) {
	ts := startServer(t, nil)
	u := keyURL(ts, "c", []byte("k"))

	r := do(t, "PUT", u, []byte("v1"), "If-None-Match", "*")
	if r.status != 204 || r.header.Get("ETag") != `"1"` || revOf(t, r) != 1 {
		t.Fatalf("create: %d %v", r.status, r.header)
	}
	r = do(t, "PUT", u, []byte("again"), "If-None-Match", "*")
	wantError(t, r, 412, "precondition_failed")
	if r.header.Get("ETag") != `"1"` || revOf(t, r) != 1 {
		t.Fatalf("412 of a create: %v", r.header)
	}
	r = do(t, "GET", u, nil)
	if r.status != 200 || string(r.body) != "v1" || r.header.Get("ETag") != `"1"` || revOf(t, r) != 1 || r.header.Get("Amaters-Expires-At") != "" {
		t.Fatalf("GET: %d %q %v", r.status, r.body, r.header)
	}
	if r = do(t, "GET", u, nil, "If-None-Match", `"1"`); r.status != 304 || len(r.body) != 0 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("GET If-None-Match current: %d %q", r.status, r.body)
	}
	if r = do(t, "GET", u, nil, "If-None-Match", `"7", W/"1"`); r.status != 304 {
		t.Fatalf("GET If-None-Match list with a weak match: %d", r.status)
	}
	if r = do(t, "GET", u, nil, "If-None-Match", `"2"`); r.status != 200 {
		t.Fatalf("GET If-None-Match other: %d", r.status)
	}

	wantError(t, do(t, "PUT", u, []byte("x"), "If-Match", `"2"`), 412, "precondition_failed")
	r = do(t, "PUT", u, []byte("v2"), "If-Match", `"1"`)
	if r.status != 204 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("PUT If-Match current: %d %v", r.status, r.header)
	}
	if r = do(t, "PUT", u, []byte("v3"), "If-Match", "*"); r.status != 204 || r.header.Get("ETag") != `"3"` {
		t.Fatalf("PUT If-Match *: %d %v", r.status, r.header)
	}
	wantError(t, do(t, "PUT", keyURL(ts, "c", []byte("absent")), []byte("x"), "If-Match", "*"), 412, "precondition_failed")
	for _, bad := range [][]string{{"If-Match", `W/"3"`}, {"If-Match", `"0"`}, {"If-Match", "3"}, {"If-None-Match", `"3"`}, {"If-Match", `"3"`, "If-None-Match", "*"}} {
		wantError(t, do(t, "PUT", u, []byte("x"), bad...), 400, "invalid_argument")
	}

	wantError(t, do(t, "DELETE", u, nil, "If-Match", `"2"`), 412, "precondition_failed")
	if r = do(t, "DELETE", u, nil, "If-Match", `"3"`); r.status != 204 || revOf(t, r) != 4 {
		t.Fatalf("DELETE If-Match current: %d %v", r.status, r.header)
	}
	// An absent key: nothing changes, no revision taken.
	if r = do(t, "DELETE", u, nil); r.status != 204 || revOf(t, r) != 4 {
		t.Fatalf("DELETE of an absent key: %d %v", r.status, r.header)
	}
	r = do(t, "DELETE", u, nil, "If-Match", "*")
	wantError(t, r, 412, "precondition_failed")
	if r.header.Get("ETag") != "" {
		t.Fatalf("412 on an absent key has an ETag: %v", r.header)
	}
	r = do(t, "GET", u, nil)
	wantError(t, r, 404, "not_found")
	if revOf(t, r) != 4 {
		t.Fatalf("404 at revision %v", r.header)
	}

	// Batches: if_revision and check, one failure fails all.
	do(t, "PUT", keyURL(ts, "c", []byte("a")), []byte("A")) // revision 5
	batch := func(ops ...string) result {
		return do(t, "POST", ts.api+"/v1/batch", []byte(`{"ops":[`+strings.Join(ops, ",")+`]}`))
	}
	r = batch(`{"op":"check","collection":"c","key":"YQ==","if_revision":5}`,
		`{"op":"set","collection":"c","key":"Yg==","value":"Qg==","if_revision":0}`,
		`{"op":"set","collection":"c","key":"YQ==","value":"QQ==","if_revision":4}`)
	wantError(t, r, 412, "precondition_failed")
	var e struct {
		Error struct {
			Message string
			Index   *int
		}
	}
	json.Unmarshal(r.body, &e)
	if e.Error.Index == nil || *e.Error.Index != 2 || !strings.HasPrefix(e.Error.Message, "ops[2]: ") || r.header.Get("ETag") != `"5"` {
		t.Fatalf("batch 412: %s %v", r.body, r.header)
	}
	if r := do(t, "GET", keyURL(ts, "c", []byte("b")), nil); r.status != 404 {
		t.Fatalf("a failed batch applied an op: %d", r.status)
	}
	r = batch(`{"op":"check","collection":"c","key":"YQ==","if_revision":5}`,
		`{"op":"set","collection":"c","key":"Yg==","value":"Qg==","if_revision":0,"ttl":60}`,
		`{"op":"delete","collection":"c","key":"YQ==","if_revision":5}`)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"applied":3,"revision":6}` || revOf(t, r) != 6 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	p := getPage(t, ts, "c", "")
	if p.Revision != 6 || len(p.Items) != 1 || p.Items[0].Revision != 6 || p.Items[0].ExpiresAt == "" {
		t.Fatalf("range after the batch: %+v", p)
	}
	// Checks only: nothing changes, the current revision.
	if r = batch(`{"op":"check","collection":"c","key":"YQ==","if_revision":0}`); r.status != 200 || strings.TrimSpace(string(r.body)) != `{"applied":1,"revision":6}` {
		t.Fatalf("a batch of checks: %d %s", r.status, r.body)
	}
	for _, bad := range []string{
		`{"op":"check","collection":"c","key":"YQ=="}`,
		`{"op":"set","collection":"c","key":"YQ==","value":"","if_revision":-1}`,
		`{"op":"set","collection":"c","key":"YQ==","value":"","if_revision":1.5}`,
		`{"op":"set","collection":"c","key":"YQ==","value":"","ttl":0}`,
		`{"op":"set","collection":"c","key":"YQ==","value":"","ttl":315360001}`,
		`{"op":"delete","collection":"c","key":"YQ==","ttl":5}`,
	} {
		wantError(t, batch(bad), 400, "invalid_argument")
	}
}

// TestExpiry: a ttl hides the key at its time on every read path and to
// guards, with the injected clock; the expirer then commits its deletion.
func TestExpiry(t *testing.T) {
	ts, clock := startClocked(t, nil)
	u := keyURL(ts, "c", []byte("k"))
	for _, bad := range []string{"?ttl=0", "?ttl=-1", "?ttl=x", "?ttl=315360001", "?ttl=1&ttl=2", "?tl=1"} {
		wantError(t, do(t, "PUT", u+bad, []byte("v")), 400, "invalid_argument")
	}
	r := do(t, "PUT", u+"?ttl=10", []byte("v"))
	if r.status != 204 {
		t.Fatalf("PUT ttl: %d %s", r.status, r.body)
	}
	want := clock.now().Add(10 * time.Second).Format(time.RFC3339)
	r = do(t, "GET", u, nil)
	if r.status != 200 || r.header.Get("Amaters-Expires-At") != want {
		t.Fatalf("GET: %d %v, want expiry %s", r.status, r.header, want)
	}
	if p := getPage(t, ts, "c", ""); len(p.Items) != 1 || p.Items[0].ExpiresAt != want {
		t.Fatalf("range: %+v", p)
	}
	clock.add(10*time.Second - time.Millisecond)
	if r = do(t, "GET", u, nil); r.status != 200 {
		t.Fatalf("GET a millisecond before expiry: %d", r.status)
	}
	clock.add(time.Millisecond)
	wantError(t, do(t, "GET", u, nil), 404, "not_found")
	if r = do(t, "HEAD", u, nil); r.status != 404 {
		t.Fatalf("HEAD of an expired key: %d", r.status)
	}
	if p := getPage(t, ts, "c", ""); len(p.Items) != 0 {
		t.Fatalf("range returned an expired key: %+v", p)
	}
	wantError(t, do(t, "PUT", u, []byte("x"), "If-Match", "*"), 412, "precondition_failed")
	if r = do(t, "PUT", u, []byte("new"), "If-None-Match", "*"); r.status != 204 {
		t.Fatalf("create over an expired key: %d %s", r.status, r.body)
	}
	// A write without ttl clears the expiry.
	clock.add(time.Hour)
	if r = do(t, "GET", u, nil); r.status != 200 || r.header.Get("Amaters-Expires-At") != "" {
		t.Fatalf("rewritten key: %d %v", r.status, r.header)
	}

	// The expirer commits the deletion of an expired key as its own write.
	do(t, "PUT", keyURL(ts, "c", []byte("gone")), []byte("v"), "X-Unused", "")
	do(t, "PUT", keyURL(ts, "c", []byte("gone"))+"?ttl=1", []byte("v"))
	// (A GET answered from the query cache reports the revision it was
	// read at, which may be older: the metric is the database's.)
	before := metricUint(t, ts, "amaters_storage_revision")
	clock.add(2 * time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(string(do(t, "GET", ts.health+"/metrics", nil).body), "amaters_storage_expired_total 1\n") {
		if time.Now().After(deadline) {
			t.Fatal("the expirer did not delete the expired key")
		}
		time.Sleep(50 * time.Millisecond) // the expirer's own period is a second
	}
	if after := metricUint(t, ts, "amaters_storage_revision"); after != before+1 {
		t.Fatalf("revision %d after the expiry, want %d", after, before+1)
	}
	// Past the expiry and gone for good: the collection lists only c's
	// live key.
	r = do(t, "GET", ts.api+"/v1/collections", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"collections":[{"name":"c"}],"more":false}` {
		t.Fatalf("collections: %d %s", r.status, r.body)
	}
}

// TestCollectionsListing pages through the collections holding live keys.
func TestCollectionsListing(t *testing.T) {
	ts := startServer(t, nil)
	for _, c := range []string{"b", "a", "abc", "Z", "a.b"} {
		do(t, "PUT", keyURL(ts, c, []byte("k")), []byte("v"))
	}
	do(t, "PUT", keyURL(ts, "empty", []byte("k")), []byte("v"))
	do(t, "DELETE", keyURL(ts, "empty", []byte("k")), nil)
	var got []string
	next := ""
	for {
		q := "?limit=2"
		if next != "" {
			q += "&next=" + next
		}
		r := do(t, "GET", ts.api+"/v1/collections"+q, nil)
		var p struct {
			Collections []struct{ Name string }
			More        bool
			Next        string
		}
		if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
			t.Fatalf("collections: %d %s", r.status, r.body)
		}
		for _, c := range p.Collections {
			got = append(got, c.Name)
		}
		if !p.More {
			break
		}
		next = p.Next
	}
	if want := "Z a a.b abc b"; strings.Join(got, " ") != want {
		t.Fatalf("collections %q, want %q", got, want)
	}
	for _, q := range []string{"?limit=0", "?limit=10001", "?x=1", "?next=%2F"} {
		wantError(t, do(t, "GET", ts.api+"/v1/collections"+q, nil), 400, "invalid_argument")
	}
}

// TestGuardedCounter: 8 clients each make 300 read-modify-write
// increments guarded by If-Match, retrying on 412; no update is lost.
func TestGuardedCounter(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Middleware.RateLimitRPS = 0 })
	u := keyURL(ts, "c", []byte("counter"))
	do(t, "PUT", u, []byte("0"))
	const clients, increments = 8, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, conflicts := 0, 0
	for range clients {
		wg.Go(func() {
			c := &http.Client{}
			for range increments {
				for {
					resp, err := c.Get(u)
					if err != nil {
						t.Error(err)
						return
					}
					var n int
					fmt.Fscan(resp.Body, &n)
					resp.Body.Close()
					req, _ := http.NewRequest("PUT", u, strings.NewReader(strconv.Itoa(n+1)))
					req.Header.Set("If-Match", resp.Header.Get("ETag"))
					resp, err = c.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					mu.Lock()
					if resp.StatusCode == 204 {
						ok++
					} else {
						conflicts++
					}
					mu.Unlock()
					if resp.StatusCode == 204 {
						break
					}
					if resp.StatusCode != 412 {
						t.Errorf("guarded PUT: %d", resp.StatusCode)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	r := do(t, "GET", u, nil)
	if string(r.body) != strconv.Itoa(clients*increments) || ok != clients*increments {
		t.Fatalf("counter %s after %d acknowledged increments (%d conflicts), want %d", r.body, ok, conflicts, clients*increments)
	}
	t.Logf("%d increments, %d conflicts retried", ok, conflicts)
}

// TestRevisionModel drives random guarded and unguarded PUTs, DELETEs,
// batches and clock jumps (expiry) through HTTP against a model of
// API.md §7, checking every answer and, at the end, the whole state.
func TestRevisionModel(t *testing.T) {
	ts, clock := startClocked(t, nil)
	type mval struct {
		v       string
		mod     uint64
		expires time.Time // zero: never
	}
	model := map[string]mval{}
	var rev uint64
	now := func() time.Time { return clock.now() }
	live := func(k string) (mval, bool) {
		m, ok := model[k]
		if !ok || (!m.expires.IsZero() && !now().Before(m.expires)) {
			return mval{}, false
		}
		return m, true
	}
	keys := []string{"a", "b", "c", "d"}
	rng := rand.New(rand.NewPCG(1, 2))
	// guard picks a guard for key k: none, the right revision, a wrong
	// one, exists or absent. It returns the header and whether it holds.
	guard := func(k string, put bool) ([]string, bool) {
		m, ok := live(k)
		switch rng.IntN(5) {
		case 0:
			return []string{"If-Match", fmt.Sprintf(`"%d"`, m.mod)}, ok && m.mod != 0
		case 1:
			return []string{"If-Match", fmt.Sprintf(`"%d"`, rev+1)}, false
		case 2:
			return []string{"If-Match", "*"}, ok
		case 3:
			if put {
				return []string{"If-None-Match", "*"}, !ok
			}
		}
		return nil, true
	}
	for step := range 600 {
		k := keys[rng.IntN(len(keys))]
		u := keyURL(ts, "m", []byte(k))
		switch rng.IntN(6) {
		case 0, 1: // PUT
			hdr, holds := guard(k, true)
			if hdr != nil && hdr[1] == `"0"` {
				hdr, holds = nil, true
			}
			v := fmt.Sprint(step)
			q, ttl := "", time.Duration(0)
			if rng.IntN(3) == 0 {
				ttl = time.Duration(1+rng.IntN(5)) * time.Second
				q = fmt.Sprintf("?ttl=%d", int(ttl/time.Second))
			}
			r := do(t, "PUT", u+q, []byte(v), hdr...)
			if !holds {
				if r.status != 412 || revOf(t, r) != rev {
					t.Fatalf("step %d: PUT %s %v should fail: %d %s", step, k, hdr, r.status, r.body)
				}
				continue
			}
			rev++
			if r.status != 204 || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, rev) {
				t.Fatalf("step %d: PUT %s %v: %d %v %s, want revision %d", step, k, hdr, r.status, r.header, r.body, rev)
			}
			m := mval{v: v, mod: rev}
			if ttl != 0 {
				m.expires = now().Add(ttl)
			}
			model[k] = m
		case 2: // DELETE
			hdr, holds := guard(k, false)
			if hdr != nil && hdr[1] == `"0"` {
				hdr, holds = nil, true
			}
			r := do(t, "DELETE", u, nil, hdr...)
			if !holds {
				if r.status != 412 {
					t.Fatalf("step %d: DELETE %s %v should fail: %d", step, k, hdr, r.status)
				}
				continue
			}
			if _, ok := live(k); ok {
				rev++
			}
			delete(model, k)
			if r.status != 204 || revOf(t, r) != rev {
				t.Fatalf("step %d: DELETE %s: %d %v, want revision %d", step, k, r.status, r.header, rev)
			}
		case 3: // GET
			r := do(t, "GET", u, nil)
			m, ok := live(k)
			if !ok {
				wantError(t, r, 404, "not_found")
				continue
			}
			if r.status != 200 || string(r.body) != m.v || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, m.mod) {
				t.Fatalf("step %d: GET %s: %d %q %v, want %+v", step, k, r.status, r.body, r.header, m)
			}
		case 4: // a batch: a check, a set and a delete, guarded
			k2 := keys[rng.IntN(len(keys))]
			m1, ok1 := live(k)
			ifr := uint64(0)
			if ok1 {
				ifr = m1.mod
			}
			if rng.IntN(4) == 0 {
				ifr++
			}
			holds := (ok1 && ifr == m1.mod) || (!ok1 && ifr == 0)
			body := fmt.Sprintf(`{"ops":[{"op":"check","collection":"m","key":"%s","if_revision":%d},{"op":"set","collection":"m","key":"%s","value":"%s"},{"op":"delete","collection":"m","key":"%s"}]}`,
				b64(k), ifr, b64(k2), b64("batch"), b64(k))
			r := do(t, "POST", ts.api+"/v1/batch", []byte(body))
			if !holds {
				wantError(t, r, 412, "precondition_failed")
				continue
			}
			rev++
			if r.status != 200 || revOf(t, r) != rev {
				t.Fatalf("step %d: batch: %d %s, want revision %d", step, r.status, r.body, rev)
			}
			model[k2] = mval{v: "batch", mod: rev}
			delete(model, k)
		case 5: // time passes; the expirer may delete (its revisions are
			// read back from a GET's Amaters-Revision)
			clock.add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			r := do(t, "GET", ts.api+"/v1/collections/m/range", nil)
			var p struct {
				Items []struct {
					Key      []byte
					Value    []byte
					Revision uint64
				}
				Revision uint64
			}
			json.Unmarshal(r.body, &p)
			var want []string
			for _, kk := range keys {
				if m, ok := live(kk); ok {
					want = append(want, fmt.Sprintf("%s=%s@%d", kk, m.v, m.mod))
				}
			}
			var got []string
			for _, it := range p.Items {
				got = append(got, fmt.Sprintf("%s=%s@%d", it.Key, it.Value, it.Revision))
			}
			if strings.Join(got, " ") != strings.Join(want, " ") || p.Revision < rev {
				t.Fatalf("step %d: range %q at %d, want %q at ≥ %d", step, got, p.Revision, want, rev)
			}
			// Expiry deletions the expirer committed took revisions.
			rev = p.Revision
			for kk := range model {
				if _, ok := live(kk); !ok {
					delete(model, kk)
				}
			}
		}
	}
}

// metricValue reads one unlabelled metric from /metrics.
func metricUint(t *testing.T, ts *testServer, name string) uint64 {
	t.Helper()
	for _, line := range strings.Split(string(do(t, "GET", ts.health+"/metrics", nil).body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestCollectionsFilteredByReadAccess: each caller sees the collections it
// may read, and a batch's check needs read access only.
func TestCollectionsFilteredByReadAccess(t *testing.T) {
	ts, _ := authServer(t, nil)
	admin := token(t, "ada", []string{"admin"}, nil)
	for _, c := range []string{"a", "b", "logs", "c"} {
		if r := do(t, "PUT", keyURL(ts, c, []byte("k")), []byte("v"), bearer(admin)...); r.status != 204 {
			t.Fatalf("PUT %s: %d", c, r.status)
		}
	}
	list := func(tok string) string {
		r := do(t, "GET", ts.api+"/v1/collections", nil, bearer(tok)...)
		if r.status != 200 {
			t.Fatalf("collections: %d %s", r.status, r.body)
		}
		return strings.TrimSpace(string(r.body))
	}
	if got := list(admin); got != `{"collections":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"logs"}],"more":false}` {
		t.Errorf("admin: %s", got)
	}
	if got := list(token(t, "rita", []string{"reader"}, []string{"a", "c"})); got != `{"collections":[{"name":"a"},{"name":"c"}],"more":false}` {
		t.Errorf("reader of a and c: %s", got)
	}
	if got := list(token(t, "alice", nil, nil)); got != `{"collections":[{"name":"logs"}],"more":false}` {
		t.Errorf("analyst: %s", got)
	}
	if r := do(t, "GET", ts.api+"/v1/collections", nil); r.status != 401 {
		t.Errorf("anonymous: %d", r.status)
	}
	reader := token(t, "rita", []string{"reader"}, []string{"a"})
	check := `{"ops":[{"op":"check","collection":"a","key":"aw==","if_revision":1}]}`
	if r := do(t, "POST", ts.api+"/v1/batch", []byte(check), bearer(reader)...); r.status != 200 {
		t.Errorf("a reader's check: %d %s", r.status, r.body)
	}
	wantError(t, do(t, "POST", ts.api+"/v1/batch", []byte(`{"ops":[{"op":"check","collection":"b","key":"aw==","if_revision":1}]}`), bearer(reader)...), 403, "permission_denied")
	wantError(t, do(t, "POST", ts.api+"/v1/batch", []byte(`{"ops":[{"op":"delete","collection":"a","key":"aw=="}]}`), bearer(reader)...), 403, "permission_denied")
}
