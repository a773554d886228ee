package store_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"amaters-server/server/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestFormatGolden writes a fixed sequence of requests and compares every
// key and value of the lsm.DB with testdata/format-v3.golden: the on-disk
// format (doc.go # Format) never changes by accident. Regenerate with
// go test -run TestFormatGolden -update, and review the diff.
func TestFormatGolden(t *testing.T) {
	e := newEnv(t, store.Options{HistoryRevisions: 100})
	apply := func(now time.Duration, index uint64, ops ...store.Op) {
		t.Helper()
		res, err := e.s.Apply([]store.Request{{Ops: ops, Now: t0.Add(now), AppliedIndex: index}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("Apply: %v, %+v", err, res)
		}
	}
	apply(0, 1, put("users", "ada", "lovelace"), put("users", "bob", ""))
	apply(0, 2, ttl(put("sessions", "s1", "token"), t0.Add(90*time.Second)))
	apply(time.Second, 3, guarded(put("users", "ada", "byron"), ifRev(1)), del("users", "bob"), check("sessions", "s1", ifExists))
	apply(time.Second, 4, ttl(put("sessions", "s2", "t2"), t0.Add(time.Hour)))
	apply(2*time.Second, 5, put("sessions", "s2", "t2 forever")) // leaves a stale expiry entry
	due, err := e.s.DueExpiries(t0.Add(2*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Apply(due); err != nil {
		t.Fatal(err)
	}
	got := dump(t, e.db)
	path := filepath.Join("testdata", "format-v3.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("the lsm keys differ from %s:\n%s\nwant\n%s", path, got, want)
	}
	// And a store opens on them.
	e.reopen()
	if r := e.s.Revision(); r != 6 {
		t.Fatalf("revision %d, want 6", r)
	}
}
