package lsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"amaters-server/lsm"
)

// model is the reference: a plain map.
type model map[string]string

func (m model) clone() model {
	c := make(model, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// scan returns the model's pairs in [lo, hi).
func (m model) scan(lo, hi []byte) [][2]string {
	var out [][2]string
	for k, v := range m {
		if (lo == nil || k >= string(lo)) && (hi == nil || k < string(hi)) {
			out = append(out, [2]string{k, v})
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return bytes.Compare([]byte(a[0]), []byte(b[0])) })
	return out
}

type modelConfig struct {
	name  string
	opts  lsm.Options
	crash bool // crash-reopen instead of clean reopen (SyncAlways only)
}

func modelConfigs() []modelConfig {
	small := lsm.WithKnobs(lsm.Options{MemtableSize: 4 << 10}, 2, 8<<10, 16<<10, false)
	return []modelConfig{
		{name: "tiny-memtable-crash", opts: small, crash: true},
		{name: "two-threads-nocache-syncnone", opts: func() lsm.Options {
			o := lsm.WithKnobs(lsm.Options{MemtableSize: 8 << 10, CompactionThreads: 2, BlockCacheSize: -1, Sync: lsm.SyncNone}, 3, 4<<10, 8<<10, false)
			return o
		}()},
		{name: "manual-compaction-crash", opts: lsm.WithKnobs(lsm.Options{MemtableSize: 16 << 10}, 4, 16<<10, 32<<10, true), crash: true},
	}
}

func TestModel(t *testing.T) {
	seeds, steps := 8, 1500
	if testing.Short() {
		seeds = 3
	}
	if soak {
		seeds, steps = 200, 5000
	}
	for _, cfg := range modelConfigs() {
		for seed := range uint64(seeds) {
			t.Run(fmt.Sprintf("%s/seed=%d", cfg.name, seed), func(t *testing.T) {
				t.Parallel()
				runModel(t, cfg, seed, steps)
			})
		}
	}
}

func runModel(t *testing.T, cfg modelConfig, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	fs := lsm.NewCrashFS()
	opts := cfg.opts
	opts.FS = fs
	db, err := lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	m := model{}
	type snap struct {
		s *lsm.Snapshot
		m model
	}
	var snaps []snap
	key := func() []byte { return fmt.Appendf(nil, "k%03d", rng.IntN(300)) }
	val := func() []byte {
		if rng.IntN(10) == 0 {
			return []byte{}
		}
		return bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, rng.IntN(200))
	}
	fail := func(step int, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d step %d: %s", seed, step, fmt.Sprintf(format, args...))
	}
	checkScan := func(step int, it *lsm.Iterator, want [][2]string) {
		t.Helper()
		var got [][2]string
		for it.Next() {
			got = append(got, [2]string{string(it.Key()), string(it.Value())})
		}
		if err := it.Close(); err != nil {
			fail(step, "iterator: %v", err)
		}
		if !slices.Equal(got, want) {
			fail(step, "scan got %d pairs, want %d\n got %.300v\nwant %.300v", len(got), len(want), got, want)
		}
	}
	bounds := func() (lo, hi []byte) {
		if rng.IntN(3) > 0 {
			lo = key()
		}
		if rng.IntN(3) > 0 {
			hi = key()
		}
		return lo, hi
	}
	for step := range steps {
		switch r := rng.IntN(100); {
		case r < 35:
			k, v := key(), val()
			if err := db.Put(k, v); err != nil {
				fail(step, "Put: %v", err)
			}
			m[string(k)] = string(v)
		case r < 45:
			k := key()
			if err := db.Delete(k); err != nil {
				fail(step, "Delete: %v", err)
			}
			delete(m, string(k))
		case r < 52:
			var b lsm.Batch
			pending := model{}
			var dels []string
			for range 1 + rng.IntN(20) {
				k := key()
				if rng.IntN(3) == 0 {
					b.Delete(k)
					delete(pending, string(k))
					dels = append(dels, string(k))
				} else {
					v := val()
					b.Put(k, v)
					pending[string(k)] = string(v)
					dels = slices.DeleteFunc(dels, func(x string) bool { return x == string(k) })
				}
			}
			if err := db.Apply(&b); err != nil {
				fail(step, "Apply: %v", err)
			}
			for _, k := range dels {
				delete(m, k)
			}
			for k, v := range pending {
				m[k] = v
			}
		case r < 75:
			k := key()
			v, err := db.Get(k)
			want, ok := m[string(k)]
			if !ok {
				if !errors.Is(err, lsm.ErrNotFound) {
					fail(step, "Get(%s) = %q, %v; want not found", k, v, err)
				}
			} else if err != nil || string(v) != want || v == nil {
				fail(step, "Get(%s) = %q (nil=%v), %v; want %q", k, v, v == nil, err, want)
			}
		case r < 80:
			lo, hi := bounds()
			checkScan(step, db.NewIterator(lo, hi), m.scan(lo, hi))
		case r < 83:
			snaps = append(snaps, snap{db.Snapshot(), m.clone()})
		case r < 88 && len(snaps) > 0:
			s := snaps[rng.IntN(len(snaps))]
			if rng.IntN(2) == 0 {
				k := key()
				v, err := s.s.Get(k)
				want, ok := s.m[string(k)]
				if ok != (err == nil) || string(v) != want {
					fail(step, "snapshot Get(%s) = %q, %v; want %q, %v", k, v, err, want, ok)
				}
			} else {
				lo, hi := bounds()
				checkScan(step, s.s.NewIterator(lo, hi), s.m.scan(lo, hi))
			}
		case r < 90 && len(snaps) > 0:
			i := rng.IntN(len(snaps))
			if err := snaps[i].s.Close(); err != nil {
				fail(step, "snapshot Close: %v", err)
			}
			snaps = slices.Delete(snaps, i, i+1)
		case r < 93:
			if err := db.Flush(); err != nil {
				fail(step, "Flush: %v", err)
			}
		case r < 96:
			if err := db.CompactAll(); err != nil {
				fail(step, "CompactAll: %v", err)
			}
			if err := db.CheckInvariants(); err != nil {
				fail(step, "invariants: %v", err)
			}
		default:
			for _, s := range snaps {
				s.s.Close()
			}
			snaps = nil
			if cfg.crash {
				crashed := fs.CrashClone(0, seed+uint64(step))
				if err := db.Close(); err != nil {
					fail(step, "Close: %v", err)
				}
				fs = crashed
			} else if err := db.Close(); err != nil {
				fail(step, "Close: %v", err)
			}
			opts.FS = fs
			if db, err = lsm.Open("/db", opts); err != nil {
				fail(step, "reopen: %v", err)
			}
		}
	}
	for _, s := range snaps {
		s.s.Close()
	}
	checkScan(steps, db.NewIterator(nil, nil), m.scan(nil, nil))
}

// TestSubcompactions: level-0 compactions large enough are split into key
// ranges merged in parallel; the database holds exactly the model's
// contents, through reads, scans and a reopen, and its levels stay
// ordered.
func TestSubcompactions(t *testing.T) {
	fs := lsm.NewCrashFS()
	opts := lsm.WithKnobs(lsm.Options{FS: fs, MemtableSize: 64 << 10, CompactionThreads: 3, Sync: lsm.SyncNone}, 2, 8<<10, 64<<10, false)
	db, err := lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	model := map[string]string{}
	for i := range 60000 {
		k := fmt.Sprintf("k%06d", rng.IntN(20000))
		if rng.IntN(10) == 0 {
			if err := db.Delete([]byte(k)); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
			continue
		}
		v := fmt.Sprintf("v%d-%d", i, rng.Uint64())
		if err := db.Put([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		model[k] = v
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.CompactAll(); err != nil {
		t.Fatal(err)
	}
	m := db.Metrics()
	if m.Subcompactions == 0 {
		t.Fatal("no compaction was split: the test does not exercise sub-compactions")
	}
	if m.CompactionBytesRead == 0 || m.CompactionBytesWritten == 0 || m.CompactionsRunning != 0 || m.CompactionDebt != 0 {
		t.Errorf("after CompactAll: read %d, written %d, running %d, debt %d; want bytes counted, none running, no debt",
			m.CompactionBytesRead, m.CompactionBytesWritten, m.CompactionsRunning, m.CompactionDebt)
	}
	check := func(db *lsm.DB) {
		t.Helper()
		if err := db.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		for k, v := range model {
			if got, err := db.Get([]byte(k)); err != nil || string(got) != v {
				t.Fatalf("%s = %q, %v; want %q", k, got, err, v)
			}
		}
		it := db.NewIterator(nil, nil)
		n := 0
		for it.Next() {
			if model[string(it.Key())] != string(it.Value()) {
				t.Fatalf("scan: %s = %q", it.Key(), it.Value())
			}
			n++
		}
		if err := it.Close(); err != nil || n != len(model) {
			t.Fatalf("scan saw %d of %d keys: %v", n, len(model), err)
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db)
}

// TestCompactionDebt: with compactions held back, level 0 past its trigger
// is owed in full; compacting pays it off.
func TestCompactionDebt(t *testing.T) {
	opts := lsm.WithKnobs(lsm.Options{FS: lsm.NewCrashFS(), MemtableSize: 64 << 10}, 2, 16<<10, 64<<10, true)
	db, err := lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for f := range 3 {
		for i := range 200 {
			if err := db.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d-%d", f, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	m := db.Metrics()
	if m.Levels[0].Files != 3 || m.CompactionDebt != m.Levels[0].Bytes {
		t.Fatalf("level 0: %d files, %d bytes; debt %d, want all of level 0", m.Levels[0].Files, m.Levels[0].Bytes, m.CompactionDebt)
	}
	if err := db.CompactAll(); err != nil {
		t.Fatal(err)
	}
	if m := db.Metrics(); m.CompactionDebt != 0 {
		t.Fatalf("debt %d after compacting", m.CompactionDebt)
	}
}
