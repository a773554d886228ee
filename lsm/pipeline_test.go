package lsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"amaters-server/lsm"
)

// TestConcurrentWritersReadOwnWrites checks the commit pipeline, where a
// group's memtable apply overlaps the next group's log write: with
// several writers and a memtable so small that it switches every few
// writes (so switches and Flush calls meet pending applies), a write is
// visible to its writer as soon as Put returns, and every write is there
// at the end and after a reopen.
func TestConcurrentWritersReadOwnWrites(t *testing.T) {
	modes := []struct {
		name string
		mode lsm.SyncMode
	}{
		{"SyncNone", lsm.SyncNone},
		{"SyncInterval", lsm.SyncInterval},
		{"SyncAlways", lsm.SyncAlways},
	}
	const writers = 4
	perWriter := 600
	if testing.Short() {
		perWriter = 200
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			fs := lsm.NewCrashFS()
			opts := lsm.Options{FS: fs, MemtableSize: 4 << 10, Sync: m.mode, SyncInterval: time.Hour, CompactionThreads: 2}
			db, err := lsm.Open("/db", opts)
			if err != nil {
				t.Fatal(err)
			}
			key := func(w, i int) []byte { return fmt.Appendf(nil, "w%d/%06d", w, i) }
			val := func(w, i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%d.%d;", w, i), 1+i%5) }
			var wg sync.WaitGroup
			errs := make(chan error, writers+1)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						k := key(w, i)
						if i%7 == 3 {
							var b lsm.Batch
							b.Put(k, val(w, i))
							b.Delete(key(w, i-1))
							b.Put(key(w, i-1), val(w, i-1))
							if err := db.Apply(&b); err != nil {
								errs <- err
								return
							}
						} else if err := db.Put(k, val(w, i)); err != nil {
							errs <- err
							return
						}
						got, err := db.Get(k)
						if err != nil || !bytes.Equal(got, val(w, i)) {
							errs <- fmt.Errorf("Get(%s) right after its write = %q, %v", k, got, err)
							return
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					if err := db.Flush(); err != nil {
						errs <- err
						return
					}
				}
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			check := func(db *lsm.DB) {
				t.Helper()
				it := db.NewIterator(nil, nil)
				n := 0
				for it.Next() {
					var w, i int
					if _, err := fmt.Sscanf(string(it.Key()), "w%d/%d", &w, &i); err != nil {
						t.Fatalf("unexpected key %q", it.Key())
					}
					if !bytes.Equal(it.Value(), val(w, i)) {
						t.Fatalf("%s = %q, want %q", it.Key(), it.Value(), val(w, i))
					}
					n++
				}
				if err := it.Close(); err != nil {
					t.Fatal(err)
				}
				if n != writers*perWriter {
					t.Fatalf("iterator saw %d keys, want %d", n, writers*perWriter)
				}
			}
			check(db)
			if db.Metrics().Flushes == 0 {
				t.Fatal("no memtable was flushed; the test does not exercise switches")
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = lsm.Open("/db", opts); err != nil {
				t.Fatal(err)
			}
			check(db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNthOpFailurePipelined is TestNthOpFailure for the pipelined commit
// path: two writers with SyncNone, so that a failing log write, memtable
// switch or flush can meet another group's pending apply. After a
// process kill (SyncNone promises nothing more) and a reopen on a
// healthy disk, every acknowledged write is present.
func TestNthOpFailurePipelined(t *testing.T) {
	maxN := 160
	if testing.Short() {
		maxN = 80
	}
	const writers, puts = 2, 80
	opts := lsm.WithKnobs(lsm.Options{MemtableSize: 4 << 10, Sync: lsm.SyncNone}, 2, 4<<10, 8<<10, false)
	for n := 1; n <= maxN; n++ {
		base := lsm.NewCrashFS()
		efs := &errorFS{FS: base, failAt: n, sticky: n%2 == 0, err: errInjected}
		o := opts
		o.FS = efs
		var mu sync.Mutex
		acked := map[string]string{}
		db, err := lsm.Open("/db", o)
		if err == nil {
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range puts {
						k, v := fmt.Sprintf("w%d/k%03d", w, i%30), fmt.Sprintf("v%d", i)
						err := db.Put([]byte(k), []byte(v))
						if err != nil && !errors.Is(err, lsm.ErrWritesStopped) && !errors.Is(err, errInjected) {
							t.Errorf("n=%d: Put error %v", n, err)
							return
						}
						if err == nil {
							mu.Lock()
							acked[k] = v
							mu.Unlock()
						}
					}
				}()
			}
			db.Flush()
			wg.Wait()
			db.Close()
		}
		if t.Failed() {
			t.FailNow()
		}
		o.FS = base.Clone()
		db, err = lsm.Open("/db", o)
		if err != nil {
			t.Fatalf("n=%d: reopen on healthy disk: %v", n, err)
		}
		for k, v := range acked {
			got, err := db.Get([]byte(k))
			if err != nil {
				t.Fatalf("n=%d: acked %s=%s lost: %v", n, k, v, err)
			}
			if string(got) != v && !laterValue(string(got), v) {
				t.Fatalf("n=%d: %s = %s, acked %s", n, k, got, v)
			}
		}
		db.Close()
	}
}
