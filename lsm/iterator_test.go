package lsm_test

import (
	"fmt"
	"sync"
	"testing"

	"amaters-server/lsm"
)

// TestInterleavedScans keeps several full scans open at once over tables
// of several levels, advancing them in turn and closing and reopening
// some midway, so that the read-ahead buffers of pooled table iterators
// are handed from one iterator to another while others still read.
// Every scan must see every key with its value.
func TestInterleavedScans(t *testing.T) {
	const n = 6000
	opts := lsm.WithKnobs(lsm.Options{MemtableSize: 32 << 10}, 2, 32<<10, 128<<10, false)
	db := openMem(t, lsm.NewMemFS(), opts)
	defer db.Close()
	val := func(i int) string { return fmt.Sprintf("value-%d-%0120d", i, i) }
	for i := range n {
		j := i * 7919 % n // random order, so that every table spans the key space
		if err := db.Put(fmt.Appendf(nil, "k%05d", j), []byte(val(j))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if m := db.Metrics(); m.Levels[0].Files+m.Levels[1].Files < 2 {
		t.Fatalf("want several tables, have %+v", m.Levels)
	}
	type scan struct {
		it   *lsm.Iterator
		next int
	}
	scans := make([]*scan, 4)
	for round := 0; ; round++ {
		live := 0
		for s, sc := range scans {
			if sc == nil {
				// Scans 0 and 2 start at once, 1 and 3 a round later.
				if round == 0 && s%2 == 1 {
					continue
				}
				sc = &scan{it: db.NewIterator(nil, nil)}
				scans[s] = sc
			}
			if sc.it == nil {
				continue
			}
			// Each scan moves a different number of steps per round.
			for range 50 + 37*s {
				if !sc.it.Next() {
					if err := sc.it.Close(); err != nil {
						t.Fatal(err)
					}
					if sc.next != n {
						t.Fatalf("scan %d ended at %d of %d", s, sc.next, n)
					}
					sc.it = nil
					break
				}
				if k, v := string(sc.it.Key()), string(sc.it.Value()); k != fmt.Sprintf("k%05d", sc.next) || v != val(sc.next) {
					t.Fatalf("scan %d entry %d = %q=%q", s, sc.next, k, v)
				}
				sc.next++
			}
			if sc.it != nil {
				live++
				// Scan 1 restarts twice, returning its table iterators
				// to the pool while the others read on.
				if s == 1 && (round == 6 || round == 20) {
					if err := sc.it.Close(); err != nil {
						t.Fatal(err)
					}
					scans[s] = &scan{it: db.NewIterator(nil, nil)}
				}
			}
		}
		if live == 0 && round > 0 {
			return
		}
	}
}

// TestGroupCommitMixed runs concurrent SyncAlways writers together with
// batches, Flush calls and a final Close, which all go through the commit
// queue, and checks that every acknowledged write survives a power cut.
func TestGroupCommitMixed(t *testing.T) {
	fs := lsm.NewCrashFS()
	db := openMem(t, fs, lsm.Options{MemtableSize: 16 << 10})
	const writers, per = 8, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				k := fmt.Appendf(nil, "w%d-%04d", w, i)
				var err error
				if i%10 == 0 {
					var b lsm.Batch
					b.Put(k, k)
					b.Put(append(k, 'b'), k)
					err = db.Apply(&b)
				} else {
					err = db.Put(k, k)
				}
				if err != nil {
					t.Errorf("write %s: %v", k, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := db.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
				return
			}
		}
	})
	wg.Wait()
	crashed := fs.CrashClone(0, 3)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openMem(t, crashed, lsm.Options{})
	defer db.Close()
	for w := range writers {
		for i := range per {
			k := fmt.Appendf(nil, "w%d-%04d", w, i)
			if v, err := db.Get(k); err != nil || string(v) != string(k) {
				t.Fatalf("%s = %q, %v", k, v, err)
			}
		}
	}
}
