package machine_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"amaters-server/cluster/machine"
	"amaters-server/server/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func open(t *testing.T, dir string) *machine.Machine {
	t.Helper()
	m, err := machine.Open(dir, machine.Options{Store: store.Options{HistoryRevisions: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// randomEntries makes n commands of guarded writes over a few keys,
// some with expiry, at times that move forward: a workload whose guard
// verdicts depend on the order and on the times carried.
func randomEntries(seed uint64, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out [][]byte
	now := t0
	for range n {
		now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
		var ops []store.Op
		for range 1 + rng.IntN(3) {
			o := store.Op{Collection: "c", Key: fmt.Appendf(nil, "k%d", rng.IntN(5))}
			switch rng.IntN(4) {
			case 0, 1:
				o.Kind = store.OpPut
				o.Value = fmt.Appendf(nil, "v%d", rng.IntN(100))
				if rng.IntN(3) == 0 {
					o.ExpiresAt = now.Add(time.Duration(1+rng.IntN(3)) * time.Second)
				}
			case 2:
				o.Kind = store.OpDelete
			case 3:
				o.Kind = store.OpCheck
			}
			switch rng.IntN(4) {
			case 1:
				o.Guard = store.Guard{Kind: store.GuardRevision, Revision: uint64(1 + rng.IntN(20))}
			case 2:
				o.Guard = store.Guard{Kind: store.GuardAbsent}
			case 3:
				o.Guard = store.Guard{Kind: store.GuardExists}
			}
			ops = append(ops, o)
		}
		if rng.IntN(10) == 0 {
			out = append(out, nil) // a leader's empty entry
			continue
		}
		out = append(out, machine.Encode(nil, []store.Request{{Now: now, Ops: ops}}))
	}
	return out
}

// dump is the whole visible state, at the machine's revision.
func dump(t *testing.T, m *machine.Machine) string {
	t.Helper()
	var s string
	err := m.View(func(st *store.Store) error {
		items, _, _, rev, err := st.Range("c", nil, nil, 1000, 1<<20, time.Time{})
		s = fmt.Sprintf("rev %d applied %d:", rev, st.AppliedIndex())
		for _, it := range items {
			s += fmt.Sprintf(" %s=%s@%d/%v", it.Key, it.Value, it.ModRevision, it.ExpiresAt.UnixMilli())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verdicts(res any) string {
	var s string
	for _, r := range res.([]store.Result) {
		s += fmt.Sprintf("[%d %v %v]", r.Revision, r.Changed, r.Err)
	}
	return s
}

// TestApplyDeterministicAndIdempotent applies one log on two machines,
// one of them restarted at random points (its replay skips what it
// applied): the verdicts and the states are identical.
func TestApplyDeterministicAndIdempotent(t *testing.T) {
	ents := randomEntries(7, 300)
	a := open(t, t.TempDir())
	bdir := t.TempDir()
	b := open(t, bdir)
	rng := rand.New(rand.NewPCG(3, 3))
	for i, e := range ents {
		idx := uint64(i + 1)
		ra, err := a.Apply(idx, e)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Apply(idx, e)
		if err != nil {
			t.Fatal(err)
		}
		if verdicts(ra) != verdicts(rb) {
			t.Fatalf("entry %d: verdicts %s vs %s", idx, verdicts(ra), verdicts(rb))
		}
		if rng.IntN(40) == 0 {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = open(t, bdir)
			if got := b.AppliedIndex(); got != idx {
				t.Fatalf("after reopen applied %d, want %d", got, idx)
			}
		}
	}
	if da, db := dump(t, a), dump(t, b); da != db {
		t.Fatalf("states differ:\n%s\n%s", da, db)
	}
	if a.AppliedIndex() != uint64(len(ents)) {
		t.Fatalf("applied %d", a.AppliedIndex())
	}
}

// TestBadCommand: garbage is applied as nothing, its index recorded.
func TestBadCommand(t *testing.T) {
	m := open(t, t.TempDir())
	res, err := m.Apply(1, []byte{9, 9, 9})
	if err != nil {
		t.Fatal(err)
	}
	rs := res.([]store.Result)
	if len(rs) != 1 || !errors.Is(rs[0].Err, machine.ErrBadCommand) || rs[0].Changed {
		t.Fatalf("result %+v", rs)
	}
	if m.AppliedIndex() != 1 {
		t.Fatalf("applied %d", m.AppliedIndex())
	}
}

// TestSnapshotRestore: a snapshot of one machine restored into another
// gives the same state, and both go on to the same verdicts.
func TestSnapshotRestore(t *testing.T) {
	ents := randomEntries(11, 200)
	a := open(t, t.TempDir())
	bdir := t.TempDir()
	b := open(t, bdir)
	for i, e := range ents[:150] {
		if _, err := a.Apply(uint64(i+1), e); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range ents[:20] { // b has a different, older state
		if _, err := b.Apply(uint64(i+1), e); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Apply goes on while the stream is read.
	if _, err := a.Apply(151, ents[150]); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(150, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(151, ents[150]); err != nil {
		t.Fatal(err)
	}
	if da, db := dump(t, a), dump(t, b); da != db {
		t.Fatalf("states differ after restore:\n%s\n%s", da, db)
	}
	for i := 151; i < len(ents); i++ {
		ra, err := a.Apply(uint64(i+1), ents[i])
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Apply(uint64(i+1), ents[i])
		if err != nil {
			t.Fatal(err)
		}
		if verdicts(ra) != verdicts(rb) {
			t.Fatalf("entry %d: %s vs %s", i+1, verdicts(ra), verdicts(rb))
		}
	}
	// Survives a reopen; the restore left no temporary files.
	b.Close()
	var left []string
	names, _ := os.ReadDir(bdir)
	for _, n := range names {
		left = append(left, n.Name())
	}
	if fmt.Sprint(left) != "[STATE db-0000000000000096]" {
		t.Fatalf("left in the folder: %v", left)
	}
	b = open(t, bdir)
	if da, db := dump(t, a), dump(t, b); da != db {
		t.Fatalf("states differ after reopen:\n%s\n%s", da, db)
	}

	// A damaged archive is refused and the state kept.
	before := dump(t, b)
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	if err := b.Restore(150, bytes.NewReader(bad)); err == nil {
		t.Fatal("damaged snapshot restored")
	}
	if after := dump(t, b); after != before {
		t.Fatalf("state changed by a refused restore:\n%s\n%s", before, after)
	}
	// Restored at the wrong index: refused.
	if err := b.Restore(149, bytes.NewReader(data)); err == nil {
		t.Fatal("snapshot restored at another index")
	}
}

// TestOpenAfterCrashMidRestore: a crash in a restore before STATE names
// the new folder leaves the old state current, and Open removes the
// half-written folder, STATE.tmp and the saved archive; a crash after
// STATE names it leaves the new state, and Open removes the old folder.
func TestOpenAfterCrashMidRestore(t *testing.T) {
	dir := t.TempDir()
	m := open(t, dir)
	if _, err := m.Apply(1, machine.Encode(nil, []store.Request{{Ops: []store.Op{{Kind: store.OpPut, Collection: "c", Key: []byte("k"), Value: []byte("v")}}}})); err != nil {
		t.Fatal(err)
	}
	want := dump(t, m)
	m.Close()
	os.MkdirAll(filepath.Join(dir, "db-0000000000000007"), 0o700)
	os.WriteFile(filepath.Join(dir, "db-0000000000000007", "000001.sst"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(dir, "STATE.tmp"), []byte("db-0000000000000007\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "restore.tar"), []byte("x"), 0o600)
	m = open(t, dir)
	if got := dump(t, m); got != want {
		t.Fatalf("after recovery %s, want %s", got, want)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 || names[0].Name() != "db" {
		t.Fatalf("left in the folder: %v", names)
	}

	// After STATE: the new state (here a copy of the old) is current.
	other := open(t, t.TempDir())
	rc, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Restore(1, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	// Pretend the crash came after STATE was renamed, before db was removed.
	os.WriteFile(filepath.Join(dir, "STATE"), []byte("db-0000000000000001\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "db-0000000000000001"), 0o700)
	ents, _ := os.ReadDir(filepath.Join(other.Dir(), "db-0000000000000001"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(other.Dir(), "db-0000000000000001", e.Name()))
		os.WriteFile(filepath.Join(dir, "db-0000000000000001", e.Name()), b, 0o600)
	}
	other.Close()
	m = open(t, dir)
	if got := dump(t, m); got != want {
		t.Fatalf("after recovery past STATE %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the replaced folder is still there: %v", err)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	reqs := []store.Request{
		{Now: t0, Ops: []store.Op{
			{Kind: store.OpPut, Collection: "users", Key: []byte("k\x00"), Value: []byte("v"), ExpiresAt: t0.Add(time.Second),
				Guard: store.Guard{Kind: store.GuardRevision, Revision: 7}},
			{Kind: store.OpDelete, Collection: "c", Key: []byte("x"), Value: []byte{}},
		}},
		{Ops: []store.Op{{Kind: store.OpCheck, Collection: "c", Key: []byte("y"), Value: []byte{}, Guard: store.Guard{Kind: store.GuardAbsent}}}},
	}
	b := machine.Encode(nil, reqs)
	got, err := machine.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, reqs) {
		t.Fatalf("round trip:\n%+v\n%+v", got, reqs)
	}
}

// FuzzCommand: Decode never panics, and whatever decodes encodes back to
// the same bytes.
func FuzzCommand(f *testing.F) {
	for _, e := range randomEntries(1, 20) {
		f.Add(e)
	}
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		reqs, err := machine.Decode(b)
		if err != nil {
			if !errors.Is(err, machine.ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		if again := machine.Encode(nil, reqs); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, was %x", again, b)
		}
	})
}
