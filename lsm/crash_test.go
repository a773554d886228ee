package lsm_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"amaters-server/lsm"
)

// TestCrashSyncedPrefix is LevelDB's fault-injection test: N synced writes,
// then M writes without sync, then a power cut. Exactly the N must be
// there after reopening, whether the cut drops all unsynced bytes or keeps
// a random part of them.
func TestCrashSyncedPrefix(t *testing.T) {
	for _, keep := range []int{0, 50, 100} {
		t.Run(fmt.Sprintf("keepUnsynced=%d%%", keep), func(t *testing.T) {
			fs := lsm.NewCrashFS()
			db := openMem(t, fs, lsm.Options{MemtableSize: 16 << 10})
			for i := range 500 {
				db.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d", i))
			}
			crashed := fs.CrashClone(keep, 1)
			db.Close()
			db = openMem(t, crashed, lsm.Options{MemtableSize: 16 << 10})
			defer db.Close()
			for i := range 500 {
				v, err := db.Get(fmt.Appendf(nil, "k%04d", i))
				if err != nil || string(v) != fmt.Sprintf("v%d", i) {
					t.Fatalf("k%04d = %q, %v", i, v, err)
				}
			}
		})
	}
	t.Run("unsynced writes may vanish but never tear", func(t *testing.T) {
		fs := lsm.NewCrashFS()
		opts := lsm.Options{MemtableSize: 1 << 20, Sync: lsm.SyncNone}
		db := openMem(t, fs, opts)
		for i := range 100 {
			db.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d", i))
		}
		db.Flush() // the first 100 are now durable
		for i := 100; i < 400; i++ {
			db.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d", i))
		}
		crashed := fs.CrashClone(50, 7)
		db.Close()
		db = openMem(t, crashed, opts)
		defer db.Close()
		// What survives is a prefix of the writes: once one is missing,
		// all later ones are.
		firstMissing := -1
		for i := range 400 {
			v, err := db.Get(fmt.Appendf(nil, "k%04d", i))
			switch {
			case err == nil && string(v) != fmt.Sprintf("v%d", i):
				t.Fatalf("k%04d = %q", i, v)
			case err == nil && firstMissing >= 0:
				t.Fatalf("k%04d present after missing k%04d", i, firstMissing)
			case err != nil && i < 100:
				t.Fatalf("flushed k%04d lost: %v", i, err)
			case err != nil && firstMissing < 0:
				firstMissing = i
			}
		}
	})
}

// TestCrashPoints runs concurrent SyncAlways writers and takes power-cut
// clones at many moments, while flushes and compactions run, and logs are
// prepared ahead of memtable switches. In each clone every key must hold
// a version between the last one acknowledged before the cut and the one
// in flight after it. With SyncNone the clones are what a process kill
// leaves, which must keep every acknowledged write just the same, while
// the live log is also synced in the background.
func TestCrashPoints(t *testing.T) {
	t.Run("SyncAlways/power cut", func(t *testing.T) { testCrashPoints(t, lsm.SyncAlways) })
	t.Run("SyncNone/process kill", func(t *testing.T) { testCrashPoints(t, lsm.SyncNone) })
}

func testCrashPoints(t *testing.T, mode lsm.SyncMode) {
	const writers, keysPer = 4, 16
	points := 60
	if testing.Short() {
		points = 20
	}
	opts := lsm.WithKnobs(lsm.Options{MemtableSize: 4 << 10, Sync: mode}, 2, 4<<10, 8<<10, false)
	fs := lsm.NewCrashFS()
	opts.FS = fs
	db, err := lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var acked [writers * keysPer]atomic.Uint64   // last acknowledged version per key
	var pending [writers * keysPer]atomic.Uint64 // version being written per key
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 5))
			for ver := uint64(1); !stop.Load(); ver++ {
				k := w*keysPer + rng.IntN(keysPer)
				val := make([]byte, 8+rng.IntN(300))
				binary.LittleEndian.PutUint64(val, ver)
				for i := 8; i < len(val); i++ {
					val[i] = byte(ver) + byte(i)
				}
				pending[k].Store(ver)
				if err := db.Put(fmt.Appendf(nil, "key%03d", k), val); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				acked[k].Store(ver)
			}
		}()
	}
	rng := rand.New(rand.NewPCG(42, 42))
	for p := range points {
		// Let the writers make progress between cuts.
		for start := acked[0].Load() + acked[keysPer].Load(); acked[0].Load()+acked[keysPer].Load() < start+uint64(5+rng.IntN(30)); {
			if t.Failed() {
				break
			}
			runtime.Gosched()
		}
		var before [writers * keysPer]uint64
		for i := range before {
			before[i] = acked[i].Load()
		}
		crashed := fs.Clone()
		if mode == lsm.SyncAlways {
			crashed = fs.CrashClone(rng.IntN(2)*rng.IntN(100), uint64(p))
		}
		var after [writers * keysPer]uint64
		for i := range after {
			after[i] = max(acked[i].Load(), pending[i].Load())
		}
		verifyClone(t, crashed, p, before[:], after[:])
		if t.Failed() {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
}

func verifyClone(t *testing.T, fs lsm.FS, point int, before, after []uint64) {
	t.Helper()
	db, err := lsm.Open("/db", lsm.Options{FS: fs, MemtableSize: 4 << 10})
	if err != nil {
		t.Fatalf("crash point %d: reopen: %v", point, err)
	}
	defer db.Close()
	for k := range before {
		v, err := db.Get(fmt.Appendf(nil, "key%03d", k))
		if errors.Is(err, lsm.ErrNotFound) {
			if before[k] != 0 {
				t.Fatalf("crash point %d: key%03d lost (acked version %d)", point, k, before[k])
			}
			continue
		}
		if err != nil {
			t.Fatalf("crash point %d: Get: %v", point, err)
		}
		ver := binary.LittleEndian.Uint64(v)
		for i := 8; i < len(v); i++ {
			if v[i] != byte(ver)+byte(i) {
				t.Fatalf("crash point %d: key%03d value torn", point, k)
			}
		}
		// Not older than acknowledged before the cut, not newer than any
		// write started before the cut ended.
		if ver < before[k] || ver > after[k] {
			t.Fatalf("crash point %d: key%03d at version %d, want %d..%d", point, k, ver, before[k], after[k])
		}
	}
}
