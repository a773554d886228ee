package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/store"
)

func TestRevisions(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 100})
	s := e.s
	if r := s.Revision(); r != 0 {
		t.Fatalf("empty store at revision %d", r)
	}
	if res := e.mustWrite(put("c", "a", "1")); res.Revision != 1 || !res.Changed {
		t.Fatalf("first put: %+v", res)
	}
	if res := e.mustWrite(put("c", "b", "2"), put("c", "a", "3")); res.Revision != 2 {
		t.Fatalf("batch: %+v", res)
	}
	// A DELETE of an absent key changes nothing and takes no revision.
	if res := e.mustWrite(del("c", "zz")); res.Revision != 2 || res.Changed {
		t.Fatalf("delete of an absent key: %+v", res)
	}
	if res := e.mustWrite(del("c", "b")); res.Revision != 3 || !res.Changed {
		t.Fatalf("delete: %+v", res)
	}
	ent, rev, err := s.Get("c", []byte("a"), e.clk.Now())
	if err != nil || string(ent.Value) != "3" || ent.ModRevision != 2 || rev != 3 || !ent.ExpiresAt.IsZero() {
		t.Fatalf("Get a = %+v, %d, %v", ent, rev, err)
	}
	if _, rev, err := s.Get("c", []byte("b"), e.clk.Now()); !isNotFound(err) || rev != 3 {
		t.Fatalf("Get b = %d, %v; want revision 3, ErrNotFound", rev, err)
	}
	e.reopen()
	if r := e.s.Revision(); r != 3 {
		t.Fatalf("revision after reopen %d, want 3", r)
	}
	if res := e.mustWrite(put("c", "a", "4")); res.Revision != 4 {
		t.Fatalf("put after reopen: %+v", res)
	}
	want := []string{"1 put c a 1", "2 put c b 2", "2 put c a 3", "3 delete c b", "4 put c a 4"}
	if got := eventStrings(history(t, e.s, 1)); !slices.Equal(got, want) {
		t.Fatalf("history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func eventStrings(evs []store.Event) []string {
	var out []string
	for _, ev := range evs {
		s := strings.Join([]string{itoa(ev.Revision), ev.Kind.String(), ev.Collection, string(ev.Key)}, " ")
		if ev.Kind == store.EventPut {
			s += " " + string(ev.Value)
			if !ev.ExpiresAt.IsZero() {
				s += " exp=" + itoa(uint64(ev.ExpiresAt.UnixMilli()-t0.UnixMilli()))
			}
		}
		out = append(out, s)
	}
	return out
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestGuards(t *testing.T) {
	setup := func(t *testing.T) *env {
		e := newEnv(t, store.Options{})
		e.mustWrite(put("c", "k", "v1"))                             // rev 1
		e.mustWrite(ttl(put("c", "t", "soon"), t0.Add(time.Second))) // rev 2
		return e
	}
	tests := []struct {
		name    string
		op      store.Op
		now     time.Duration // after t0
		fail    bool
		current uint64 // the failed guard's current mod revision, 0: absent
	}{
		{"put if revision matches", guarded(put("c", "k", "v"), ifRev(1)), 0, false, 0},
		{"put if revision differs", guarded(put("c", "k", "v"), ifRev(7)), 0, true, 1},
		{"put if revision of absent", guarded(put("c", "nope", "v"), ifRev(1)), 0, true, 0},
		{"put if exists", guarded(put("c", "k", "v"), ifExists), 0, false, 0},
		{"put if exists absent", guarded(put("c", "nope", "v"), ifExists), 0, true, 0},
		{"create", guarded(put("c", "nope", "v"), ifAbsent), 0, false, 0},
		{"create existing", guarded(put("c", "k", "v"), ifAbsent), 0, true, 1},
		{"delete if revision", guarded(del("c", "k"), ifRev(1)), 0, false, 0},
		{"delete if revision differs", guarded(del("c", "k"), ifRev(2)), 0, true, 1},
		{"delete if exists absent", guarded(del("c", "nope"), ifExists), 0, true, 0},
		{"check", check("c", "k", ifRev(1)), 0, false, 0},
		{"check fails", check("c", "k", ifAbsent), 0, true, 1},
		{"unexpired key exists", check("c", "t", ifRev(2)), 999 * time.Millisecond, false, 0},
		{"expired key is absent", check("c", "t", ifAbsent), time.Second, false, 0},
		{"expired key fails if revision", check("c", "t", ifRev(2)), time.Second, true, 0},
		{"expired key fails if exists", guarded(put("c", "t", "v"), ifExists), 2 * time.Second, true, 0},
		{"create over expired key", guarded(put("c", "t", "v"), ifAbsent), 2 * time.Second, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			r, err := e.write(store.Request{Ops: []store.Op{tc.op}, Now: t0.Add(tc.now)})
			if err != r.Err {
				t.Fatalf("Write returned %v, its result %v", err, r.Err)
			}
			if !tc.fail {
				if err != nil {
					t.Fatalf("result %+v", r)
				}
				if tc.op.Kind != store.OpCheck && (r.Revision != 3 || !r.Changed) {
					t.Fatalf("result %+v, want revision 3", r)
				}
				return
			}
			var ge *store.GuardError
			if !errors.As(err, &ge) || !errors.Is(err, store.ErrPreconditionFailed) || r.Changed {
				t.Fatalf("result %+v, want a guard failure", r)
			}
			if ge.Index != 0 || r.Revision != 2 {
				t.Errorf("index %d, revision %d; want 0, 2", ge.Index, r.Revision)
			}
			switch {
			case tc.current == 0 && ge.Current != nil:
				t.Errorf("current %+v, want none", ge.Current)
			case tc.current != 0 && (ge.Current == nil || ge.Current.ModRevision != tc.current || string(ge.Current.Value) != "v1"):
				t.Errorf("current %+v, want revision %d", ge.Current, tc.current)
			}
			if e.s.Revision() != 2 {
				t.Errorf("a failed request took a revision")
			}
		})
	}
}

// TestBatchAtomic: a failed guard anywhere in a request fails all of it,
// and guards see the state before the request, not its earlier ops.
func TestBatchAtomic(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 10})
	e.mustWrite(put("c", "a", "1")) // rev 1
	before := dump(t, e.db)
	res, err := e.write(store.Request{Ops: []store.Op{
		put("c", "b", "2"),
		del("c", "a"),
		check("c", "b", ifExists), // b is absent before the request
	}})
	var ge *store.GuardError
	if !errors.As(err, &ge) || ge.Index != 2 || res.Revision != 1 {
		t.Fatalf("result %+v, %v; want ops[2] failing at revision 1", res, err)
	}
	if after := dump(t, e.db); after != before {
		t.Fatalf("a failed request wrote:\n%s\nwas\n%s", after, before)
	}
	// Ops apply in order: a delete after a put of the same key removes it.
	res = e.mustWrite(put("c", "b", "2"), del("c", "b"), del("c", "b"), check("c", "a", ifRev(1)))
	if res.Revision != 2 {
		t.Fatalf("result %+v", res)
	}
	if _, _, err := e.s.Get("c", []byte("b"), t0); !isNotFound(err) {
		t.Fatalf("Get b: %v", err)
	}
	want := []string{"1 put c a 1", "2 put c b 2", "2 delete c b"}
	if got := eventStrings(history(t, e.s, 1)); !slices.Equal(got, want) {
		t.Fatalf("history %q, want %q", got, want)
	}
}

func TestInvalid(t *testing.T) {
	e := newEnv(t, store.Options{})
	long := strings.Repeat("x", 129)
	tests := []struct {
		name string
		op   store.Op
	}{
		{"no kind", store.Op{Collection: "c", Key: []byte("k")}},
		{"empty collection", put("", "k", "v")},
		{"long collection", put(long, "k", "v")},
		{"empty key", put("c", "", "v")},
		{"expiry now", ttl(put("c", "k", "v"), t0)},
		{"expiry past", ttl(put("c", "k", "v"), t0.Add(-time.Hour))},
		{"expiry before 1970", ttl(put("c", "k", "v"), time.Unix(-5, 0))},
		{"guard revision 0", guarded(put("c", "k", "v"), ifRev(0))},
		{"unknown guard", guarded(put("c", "k", "v"), store.Guard{Kind: 9})},
		{"exists with revision", guarded(put("c", "k", "v"), store.Guard{Kind: store.GuardExists, Revision: 3})},
		{"expiry on delete", ttl(del("c", "k"), t0.Add(time.Hour))},
		{"value on check", store.Op{Kind: store.OpCheck, Collection: "c", Key: []byte("k"), Value: []byte("v")}},
		{"expire without revision", store.Op{Kind: store.OpExpire, Collection: "c", Key: []byte("k"), ExpiresAt: t0}},
		{"expire without expiry", store.Op{Kind: store.OpExpire, Collection: "c", Key: []byte("k"), Guard: ifRev(1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.write(store.Request{Ops: []store.Op{put("c", "ok", "v"), tc.op}, Now: t0})
			if !errors.Is(err, store.ErrInvalid) || res.Changed || !strings.Contains(err.Error(), "ops[1]") {
				t.Fatalf("Write = %+v, %v; want ErrInvalid naming ops[1]", res, err)
			}
		})
	}
	if e.s.Revision() != 0 {
		t.Fatal("an invalid request took a revision")
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 100})
	s := e.s
	e.mustWrite(ttl(put("c", "a", "1"), t0.Add(2*time.Second)))  // rev 1
	e.mustWrite(ttl(put("c", "b", "2"), t0.Add(time.Second)))    // rev 2
	e.mustWrite(ttl(put("c", "gone", "3"), t0.Add(time.Second))) // rev 3
	e.mustWrite(del("c", "gone"))                                // rev 4
	e.mustWrite(ttl(put("c", "re", "4"), t0.Add(time.Second)))   // rev 5
	e.mustWrite(put("c", "re", "5"))                             // rev 6, no expiry: index entry stale
	e.mustWrite(ttl(put("c", "later", "6"), t0.Add(time.Hour)))  // rev 7

	ent, _, err := s.Get("c", []byte("b"), t0.Add(999*time.Millisecond))
	if err != nil || !ent.ExpiresAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("Get b before expiry: %+v, %v", ent, err)
	}
	now := t0.Add(time.Second)
	// Invisible at once to every read, before the expirer ran.
	if _, rev, err := s.Get("c", []byte("b"), now); !isNotFound(err) || rev != 7 {
		t.Fatalf("Get expired b: %d, %v", rev, err)
	}
	items, _, _, _, err := s.Range("c", nil, nil, 0, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := itemKeys(items); !slices.Equal(got, []string{"a", "later", "re"}) {
		t.Fatalf("Range at expiry: %q", got)
	}
	// A delete of an expired key changes nothing: the expirer reports it.
	if res, err := s.Write(context.Background(), store.Request{Ops: []store.Op{del("c", "b")}, Now: now}); err != nil || res.Changed {
		t.Fatalf("delete of an expired key: %+v, %v", res, err)
	}
	n, err := s.ExpireOnce(now, 0)
	if err != nil || n != 1 {
		t.Fatalf("ExpireOnce = %d, %v; want 1", n, err)
	}
	if r := s.Revision(); r != 8 {
		t.Fatalf("revision %d after one expiry, want 8", r)
	}
	// The stale index entries are gone: nothing more to do at this time.
	if reqs, err := s.DueExpiries(now, 0); err != nil || len(reqs) != 0 {
		t.Fatalf("DueExpiries after a pass: %d, %v", len(reqs), err)
	}
	// Expiries survive a reopen.
	e.reopen()
	s = e.s
	if n, err := s.ExpireOnce(t0.Add(2*time.Second), 0); err != nil || n != 1 {
		t.Fatalf("ExpireOnce after reopen = %d, %v; want 1", n, err)
	}
	want := []string{"8 expire c b", "9 expire c a"}
	if got := eventStrings(history(t, s, 8)); !slices.Equal(got, want) {
		t.Fatalf("history %q, want %q", got, want)
	}
	if m := s.Metrics(); m.Expired != 1 {
		t.Fatalf("Metrics.Expired = %d since open, want 1", m.Expired)
	}
	if _, _, err := s.Get("c", []byte("re"), t0.Add(time.Hour)); err != nil {
		t.Fatalf("rewritten key without expiry: %v", err)
	}
}

// TestExpireRace: an expire made before its key was rewritten with the
// same expiry neither deletes the new value nor drops its index entry.
func TestExpireRace(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 100})
	s := e.s
	exp := t0.Add(time.Second)
	e.mustWrite(ttl(put("c", "k", "1"), exp)) // rev 1
	due, err := s.DueExpiries(exp, 0)
	if err != nil || len(due) != 1 {
		t.Fatalf("DueExpiries: %d, %v", len(due), err)
	}
	// Rewritten with the same expiry, accepted before the expiry time.
	e.mustWrite(ttl(put("c", "k", "2"), exp)) // rev 2
	res, err := s.Apply(due)
	if err != nil || res[0].Err != nil || res[0].Changed {
		t.Fatalf("stale expire: %+v, %v", res, err)
	}
	if n, err := s.ExpireOnce(exp, 0); err != nil || n != 1 {
		t.Fatalf("ExpireOnce = %d, %v; want the rewritten value expired", n, err)
	}
	want := []string{"1 put c k 1 exp=1000", "2 put c k 2 exp=1000", "3 expire c k"}
	if got := eventStrings(history(t, s, 1)); !slices.Equal(got, want) {
		t.Fatalf("history %q, want %q", got, want)
	}
}

func itemKeys(items []store.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.Key))
	}
	return out
}

func TestRange(t *testing.T) {
	e := newEnv(t, store.Options{})
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		e.mustWrite(put("col", k, strings.Repeat(k, 10)))
	}
	e.mustWrite(put("co", "lx", "other collection"))
	e.mustWrite(put("colx", "a", "other collection"))
	e.mustWrite(ttl(put("col", "bb", "expiring"), t0.Add(time.Second)))
	now := t0.Add(time.Second)
	tests := []struct {
		name       string
		start, end string
		limit, max int
		want       []string
		more       bool
		next       string
	}{
		{"all", "", "", 0, 0, []string{"a", "b", "c", "d", "e"}, false, ""},
		{"limit", "", "", 2, 0, []string{"a", "b"}, true, "c"},
		{"limit skips expired", "b", "", 1, 0, []string{"b"}, true, "c"},
		{"bounds", "b", "d", 0, 0, []string{"b", "c"}, false, ""},
		{"bytes", "", "", 0, 25, []string{"a", "b"}, true, "c"},
		{"bytes one item at least", "", "", 0, 1, []string{"a"}, true, "b"},
		{"exact limit", "d", "", 2, 0, []string{"d", "e"}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var start, end []byte
			if tc.start != "" {
				start = []byte(tc.start)
			}
			if tc.end != "" {
				end = []byte(tc.end)
			}
			items, more, next, rev, err := e.s.Range("col", start, end, tc.limit, tc.max, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := itemKeys(items); !slices.Equal(got, tc.want) || more != tc.more || string(next) != tc.next || rev != 8 {
				t.Fatalf("Range = %q more=%v next=%q rev=%d; want %q %v %q 8", got, more, next, rev, tc.want, tc.more, tc.next)
			}
			for _, it := range items {
				if string(it.Value) != strings.Repeat(string(it.Key), 10) || it.ModRevision == 0 {
					t.Fatalf("item %+v", it)
				}
			}
		})
	}
	// Items do not share memory that an append could overwrite.
	items, _, _, _, _ := e.s.Range("col", nil, nil, 0, 0, now)
	_ = append(items[0].Key, "XXXX"...)
	_ = append(items[0].Value, "XXXX"...)
	if string(items[1].Key) != "b" || string(items[0].Value) != "aaaaaaaaaa" {
		t.Fatalf("items alias: %q", itemKeys(items))
	}
}

func TestCollections(t *testing.T) {
	e := newEnv(t, store.Options{})
	names := []string{"a", "ab", "b", "zz", "c", "abc", "\xff", "\xff\xff", "a\xff", "deleted", "expired", "mostlyexpired"}
	for _, c := range names {
		e.mustWrite(put(c, "k", "v"))
	}
	e.mustWrite(del("deleted", "k"))
	e.mustWrite(del("expired", "k"))
	e.mustWrite(ttl(put("expired", "k1", "v"), t0.Add(time.Second)))
	e.mustWrite(ttl(put("expired", "k2", "v"), t0.Add(time.Second)))
	e.mustWrite(del("mostlyexpired", "k"))
	for i := range 10 {
		e.mustWrite(ttl(put("mostlyexpired", "a"+itoa(uint64(i)), "v"), t0.Add(time.Second)))
	}
	e.mustWrite(put("mostlyexpired", "z", "live"))
	now := t0.Add(time.Second)
	want := []string{"a", "ab", "abc", "a\xff", "b", "c", "mostlyexpired", "zz", "\xff", "\xff\xff"}
	got, more, err := e.s.Collections("", 0, now, nil)
	if err != nil || more || !slices.Equal(got, want) {
		t.Fatalf("Collections = %q, %v, %v; want %q", got, more, err, want)
	}
	// Paging with every page size gives the same list.
	for limit := 1; limit <= len(want); limit++ {
		var all []string
		after := ""
		for {
			page, more, err := e.s.Collections(after, limit, now, nil)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if !more {
				break
			}
			after = page[len(page)-1]
		}
		if !slices.Equal(all, want) {
			t.Fatalf("pages of %d: %q", limit, all)
		}
	}
	// after need not be a collection.
	if got, _, _ := e.s.Collections("aa", 2, now, nil); !slices.Equal(got, []string{"ab", "abc"}) {
		t.Fatalf("after aa: %q", got)
	}
	if got, _, _ := e.s.Collections("a\xff\xff", 2, now, nil); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("after a\xff\xff: %q", got)
	}
	allow := func(c string) bool { return strings.HasPrefix(c, "a") }
	if got, more, _ := e.s.Collections("a", 2, now, allow); !slices.Equal(got, []string{"ab", "abc"}) || !more {
		t.Fatalf("filtered: %q more=%v", got, more)
	}
	// Before expiry, "expired" is listed.
	if got, _, _ := e.s.Collections("e", 1, t0, nil); !slices.Equal(got, []string{"expired"}) {
		t.Fatalf("before expiry: %q", got)
	}
}

func TestNewerFormat(t *testing.T) {
	fs := lsm.NewMemFS()
	db, err := lsm.Open("/db", lsm.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Put([]byte("\x00mformat"), []byte{0, 0, 0, 4}); err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(db, store.Options{})
	if !errors.Is(err, store.ErrNewerFormat) || !strings.Contains(err.Error(), "format 4") {
		t.Fatalf("Open = %v, want ErrNewerFormat naming format 4", err)
	}
}

func TestCorruption(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 10})
	e.mustWrite(put("c", "k", "v"))
	// An envelope with an unknown flag, written behind the store's back.
	if err := e.db.Put([]byte("\x01ck"), []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	var ce *store.CorruptionError
	if _, _, err := e.s.Get("c", []byte("k"), t0); !errors.As(err, &ce) || !errors.Is(err, store.ErrCorruption) || ce.What != "envelope" {
		t.Fatalf("Get = %v, want a corrupt envelope", err)
	}
	if _, _, _, _, err := e.s.Range("c", nil, nil, 0, 0, t0); !errors.Is(err, store.ErrCorruption) {
		t.Fatalf("Range = %v", err)
	}
	if _, err := e.write(store.Request{Ops: []store.Op{del("c", "k")}}); !errors.Is(err, store.ErrCorruption) {
		t.Fatalf("Write = %v", err)
	}
	if _, err := e.write(store.Request{Ops: []store.Op{put("c", "k", "v")}}); err != nil {
		t.Fatalf("an unguarded put reads nothing: %v", err)
	}
	if err := e.db.Put([]byte("\x00h\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00"), []byte{9}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.History(1, func(store.Event) bool { return true }); !errors.As(err, &ce) || ce.What != "event" {
		t.Fatalf("History = %v", err)
	}
	if err := e.db.Put([]byte("\x00mrev"), []byte{1}); err != nil {
		t.Fatal(err)
	}
	e.s.Close()
	if _, err := store.Open(e.db, store.Options{}); !errors.As(err, &ce) || ce.What != "meta" {
		t.Fatalf("Open = %v, want a corrupt meta key", err)
	}
}

func TestClosed(t *testing.T) {
	e := newEnv(t, store.Options{})
	e.mustWrite(put("c", "k", "v"))
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.write(store.Request{Ops: []store.Op{put("c", "k", "v")}}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if _, err := e.s.Apply(nil); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	if _, _, err := e.s.Get("c", []byte("k"), t0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}

// TestWriteContext: a request withdrawn from the queue when its context
// ends is not applied.
func TestWriteContext(t *testing.T) {
	gate := make(chan struct{})
	held := false
	e := newEnv(t, store.Options{OnCommit: func([]store.Event) {
		if !held {
			held = true
			<-gate
		}
	}})
	s := e.s
	done := make(chan error, 1)
	go func() {
		_, err := s.Write(context.Background(), store.Request{Ops: []store.Op{put("c", "first", "v")}})
		done <- err
	}()
	for s.Metrics().Groups == 0 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	withdrawn := make(chan error, 1)
	go func() {
		_, err := s.Write(ctx, store.Request{Ops: []store.Op{put("c", "withdrawn", "v")}})
		withdrawn <- err
	}()
	for s.QueueLen() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-withdrawn; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn Write = %v", err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get("c", []byte("withdrawn"), t0); !isNotFound(err) {
		t.Fatalf("the withdrawn request was applied: %v", err)
	}
	// Alone, a writer leads at once: its context only bounds a wait.
	if _, err := s.Write(ctx, store.Request{Ops: []store.Op{put("c", "k", "v")}}); err != nil {
		t.Fatalf("a leading write with a done context: %v", err)
	}
}

// TestUpgrade opens a 0.2 database (raw values under len(c)|c|key), with
// crashes between the upgrade's batches: every key reports revision 1 and
// its value, whatever the crashes.
func TestUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps int // upgrade batches before the crash; -1: none
		cut   bool
	}{
		{"whole", -1, false},
		{"kill after 1", 1, false},
		{"power cut after 3", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newCrashFS()
			db, err := lsm.Open("/db", lsm.Options{FS: fs, MemtableSize: 16 << 10})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			var b lsm.Batch
			for i := range 450 {
				c := []string{"a", "users", "zz.z"}[i%3]
				key, value := fmt.Sprintf("key%04d", i), fmt.Sprintf("value %d", i)
				if i%50 == 0 {
					value = "" // an empty value
				}
				b.Put(append(append([]byte{byte(len(c))}, c...), key...), []byte(value))
				want[c+"/"+key] = value
			}
			if err := db.Apply(&b); err != nil {
				t.Fatal(err)
			}
			opts := store.Options{UpgradeBatch: 100, HistoryRevisions: 10, ExpireInterval: -1, TrimInterval: -1}
			if tc.steps >= 0 {
				if done, err := store.UpgradeSteps(db, opts, tc.steps); err != nil || done {
					t.Fatalf("UpgradeSteps = %v, %v", done, err)
				}
				clone := fs.kill()
				if tc.cut {
					clone = fs.powerCut(rand.New(rand.NewPCG(1, 2)))
				}
				db.Close()
				fs = clone
				if db, err = lsm.Open("/db", lsm.Options{FS: fs}); err != nil {
					t.Fatal(err)
				}
			}
			var logs strings.Builder
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			s, err := store.Open(db, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), "upgrade from 0.2 done") || !strings.Contains(logs.String(), "keys=") {
				t.Errorf("log:\n%s", logs.String())
			}
			if resumed := strings.Contains(logs.String(), "resuming=true"); resumed != (tc.steps > 0) {
				t.Errorf("resumed %v after %d steps; log:\n%s", resumed, tc.steps, logs.String())
			}
			check := func(s *store.Store) {
				t.Helper()
				if r := s.Revision(); r != 1 {
					t.Fatalf("revision %d after the upgrade, want 1", r)
				}
				n := 0
				for _, c := range []string{"a", "users", "zz.z"} {
					items, _, _, rev, err := s.Range(c, nil, nil, 0, 0, t0)
					if err != nil || rev != 1 {
						t.Fatalf("Range %s: %v at %d", c, err, rev)
					}
					for _, it := range items {
						if w, ok := want[c+"/"+string(it.Key)]; !ok || w != string(it.Value) || it.ModRevision != 1 || !it.ExpiresAt.IsZero() {
							t.Fatalf("%s/%s = %+v, want %q at revision 1", c, it.Key, it, w)
						}
						n++
					}
				}
				if n != len(want) {
					t.Fatalf("%d keys after the upgrade, want %d", n, len(want))
				}
				if _, err := s.History(1, func(store.Event) bool { return true }); !errors.Is(err, store.ErrCompacted) {
					t.Fatalf("History(1) = %v: revision 1 has no events", err)
				}
			}
			check(s)
			res, err := s.Write(context.Background(), store.Request{Ops: []store.Op{guarded(put("a", "key0000", "new"), ifRev(1))}})
			if err != nil || res.Revision != 2 {
				t.Fatalf("guarded write after the upgrade: %+v, %v", res, err)
			}
			want["a/key0000"] = "new"
			s.Close()
			db.Close()
			// A second open does not upgrade again.
			db, err = lsm.Open("/db", lsm.Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s, err = store.Open(db, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if ent, _, err := s.Get("a", []byte("key0000"), t0); err != nil || string(ent.Value) != "new" || ent.ModRevision != 2 {
				t.Fatalf("after reopen: %+v, %v", ent, err)
			}
		})
	}
}

// TestEmptyOpen: an empty database gets the format and revision 0, and a
// History from 1.
func TestEmptyOpen(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 10})
	if got := dump(t, e.db); got != `"\x00mformat"="\x00\x00\x00\x03"`+"\n" {
		t.Fatalf("empty store:\n%s", got)
	}
	if oldest, err := e.s.History(1, func(store.Event) bool { return true }); err != nil || oldest != 1 {
		t.Fatalf("History(1) = %d, %v", oldest, err)
	}
}
