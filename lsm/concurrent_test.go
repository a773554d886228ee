package lsm_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"amaters-server/lsm"
)

// TestBank is BadgerDB's bank test on the batch API: writers move money
// between accounts with atomic batches while auditors sum all accounts
// through iterators and snapshots; the total must never change, across
// flushes, compactions and a reopen.
func TestBank(t *testing.T) {
	const accounts, initial = 100, 1000
	opts := lsm.WithKnobs(lsm.Options{MemtableSize: 4 << 10, CompactionThreads: 2}, 2, 4<<10, 8<<10, false)
	fs := lsm.NewCrashFS()
	opts.FS = fs
	db, err := lsm.Open("/bank", opts)
	if err != nil {
		t.Fatal(err)
	}
	acct := func(i int) []byte { return fmt.Appendf(nil, "acct%03d", i) }
	enc := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	var b lsm.Batch
	for i := range accounts {
		b.Put(acct(i), enc(initial))
	}
	if err := db.Apply(&b); err != nil {
		t.Fatal(err)
	}
	// mu serialises read-modify-write transfers; audits run unlocked.
	var mu sync.Mutex
	transfers := 1500
	if testing.Short() {
		transfers = 500
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for range transfers {
				from, to := rng.IntN(accounts), rng.IntN(accounts)
				if from == to {
					continue
				}
				mu.Lock()
				fv, err1 := db.Get(acct(from))
				tv, err2 := db.Get(acct(to))
				if err1 != nil || err2 != nil {
					mu.Unlock()
					t.Errorf("Get: %v %v", err1, err2)
					return
				}
				f, to2 := binary.BigEndian.Uint64(fv), binary.BigEndian.Uint64(tv)
				amt := uint64(rng.IntN(10))
				if f < amt {
					mu.Unlock()
					continue
				}
				var tb lsm.Batch
				tb.Put(acct(from), enc(f-amt))
				tb.Put(acct(to), enc(to2+amt))
				err := db.Apply(&tb)
				mu.Unlock()
				if err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
			}
		}()
	}
	audit := func(it *lsm.Iterator) error {
		var sum uint64
		n := 0
		for it.Next() {
			sum += binary.BigEndian.Uint64(it.Value())
			n++
		}
		if err := it.Close(); err != nil {
			return err
		}
		if n != accounts || sum != accounts*initial {
			return fmt.Errorf("audit saw %d accounts summing to %d", n, sum)
		}
		return nil
	}
	var audits atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				if err := audit(db.NewIterator(nil, nil)); err != nil {
					t.Errorf("iterator: %v", err)
					return
				}
				s := db.Snapshot()
				err := audit(s.NewIterator(nil, nil))
				s.Close()
				if err != nil {
					t.Errorf("snapshot iterator: %v", err)
					return
				}
				audits.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			db.Flush()
			m := db.Metrics()
			_ = m
		}
	}()
	// Audit at least 50 times while the writers work; wg.Wait below then
	// also waits for the writers to finish their transfers.
	for audits.Load() < 50 && !t.Failed() {
		runtime.Gosched()
	}
	done.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = lsm.Open("/bank", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := audit(db.NewIterator(nil, nil)); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if m := db.Metrics(); m.Flushes == 0 && m.Levels[0].Files == 0 {
		t.Logf("metrics: %+v", m)
	}
}
