package store_test

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"amaters-server/lsm"
	"amaters-server/server/store"
)

func TestTrimHistory(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 5})
	for i := range 12 {
		e.mustWrite(put("c", "k", itoa(uint64(i))), put("c", "j", "x")) // two events a revision
	}
	// A bounded pass can stop inside a revision: that revision is no
	// longer served.
	n, err := e.s.TrimHistory(3)
	if err != nil || n != 3 {
		t.Fatalf("TrimHistory(3) = %d, %v", n, err)
	}
	if _, err := e.s.History(2, func(store.Event) bool { return true }); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("History(2) after trimming 1½ revisions: %v", err)
	}
	if evs := history(t, e.s, 3); len(evs) != 20 || evs[0].Revision != 3 {
		t.Fatalf("History(3): %d events from %d", len(evs), evs[0].Revision)
	}
	if n, err := e.s.TrimHistory(0); err != nil || n != 11 {
		t.Fatalf("TrimHistory(0) = %d, %v; want 11", n, err)
	}
	// The newest 5 revisions are kept: 8..12.
	var ce *store.CompactedError
	oldest, err := e.s.History(7, func(store.Event) bool { return true })
	if !errors.As(err, &ce) || ce.Oldest != 8 || oldest != 8 {
		t.Fatalf("History(7) = %d, %v; want compacted, oldest 8", oldest, err)
	}
	if evs := history(t, e.s, 8); len(evs) != 10 {
		t.Fatalf("History(8): %d events, want 10", len(evs))
	}
	if n, err := e.s.TrimHistory(0); err != nil || n != 0 {
		t.Fatalf("a second TrimHistory = %d, %v", n, err)
	}
	// Past the current revision: nothing, no error.
	if evs := history(t, e.s, 13); len(evs) != 0 {
		t.Fatalf("History(13): %d events", len(evs))
	}
	e.reopen()
	if oldest, err := e.s.History(8, func(store.Event) bool { return true }); err != nil || oldest != 8 {
		t.Fatalf("after reopen History(8) = %d, %v", oldest, err)
	}
	if m := e.s.Metrics(); m.OldestRevision != 8 {
		t.Fatalf("Metrics.OldestRevision = %d", m.OldestRevision)
	}
}

// TestHistoryOff: without history, History serves nothing before the
// next revision, and turning history on starts it after the revision
// current then; turning it off again drops the old events.
func TestHistoryOff(t *testing.T) {
	e := newEnv(t, store.Options{})
	e.mustWrite(put("c", "k", "1"))
	e.mustWrite(put("c", "k", "2"))
	if oldest, err := e.s.History(2, func(store.Event) bool { return true }); !errors.Is(err, store.ErrCompacted) || oldest != 3 {
		t.Fatalf("History(2) without history = %d, %v", oldest, err)
	}
	if evs := history(t, e.s, 3); len(evs) != 0 {
		t.Fatalf("History(3): %v", evs)
	}
	e.opts.HistoryRevisions = 100
	e.reopen()
	e.mustWrite(put("c", "k", "3"))
	if got := eventStrings(history(t, e.s, 3)); !slices.Equal(got, []string{"3 put c k 3"}) {
		t.Fatalf("history once on: %q", got)
	}
	e.opts.HistoryRevisions = 0
	e.reopen()
	if n, err := e.s.TrimHistory(0); err != nil || n != 1 {
		t.Fatalf("TrimHistory with history off = %d, %v; want the 1 event deleted", n, err)
	}
	if _, err := e.s.History(3, func(store.Event) bool { return true }); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("History(3) once off: %v", err)
	}
}

// TestHistoryPaging: stopping at a revision boundary and going on from
// there reads every event once.
func TestHistoryPaging(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 100})
	for i := range 10 {
		ops := []store.Op{put("c", "a", itoa(uint64(i)))}
		for j := range i % 3 {
			ops = append(ops, put("c", "b"+itoa(uint64(j)), "x"))
		}
		e.mustWrite(ops...)
	}
	all := history(t, e.s, 1)
	var got []store.Event
	for from := uint64(1); ; {
		var page []store.Event
		if _, err := e.s.History(from, func(ev store.Event) bool {
			if len(page) >= 2 && ev.Revision != page[len(page)-1].Revision {
				return false
			}
			page = append(page, ev)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		from = page[len(page)-1].Revision + 1
	}
	if !slices.Equal(eventStrings(got), eventStrings(all)) {
		t.Fatalf("paged %q\nwhole %q", eventStrings(got), eventStrings(all))
	}
}

// TestBackground runs the background expirer and trimmer on a fake
// clock (synctest): an expired key is deleted within a tick, the history
// is trimmed, and Close stops both.
func TestBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := lsm.Open("/db", lsm.Options{FS: lsm.NewMemFS()})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s, err := store.Open(db, store.Options{HistoryRevisions: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start := time.Now()
		w := func(ops ...store.Op) {
			t.Helper()
			if _, err := s.Write(t.Context(), store.Request{Ops: ops}); err != nil {
				t.Fatal(err)
			}
		}
		w(ttl(put("c", "session", "x"), start.Add(1500*time.Millisecond)))
		for i := range 5 {
			w(put("c", "k", itoa(uint64(i))))
		}
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		m := s.Metrics()
		if m.Expired != 1 || m.Revision != 7 || m.Err != nil {
			t.Fatalf("after 2.5 s: %+v; want the key expired at revision 7", m)
		}
		time.Sleep(time.Second) // a trim tick after the expiry
		synctest.Wait()
		if m := s.Metrics(); m.OldestRevision != 5 {
			t.Fatalf("oldest revision %d, want 5: the newest 3 kept", m.OldestRevision)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		w2 := func() error {
			_, err := s.Write(t.Context(), store.Request{Ops: []store.Op{put("c", "k", "v")}})
			return err
		}
		if err := w2(); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		// synctest fails the test if a goroutine of the bubble is left
		// blocked: Close stopped the store's.
	})
}
