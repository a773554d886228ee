package lsm_test

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"amaters-server/lsm"
)

// copyCheckpoint copies the checkpoint's files into dir on fs, as a
// backup tool would, and checks that each has the size Files says.
func copyCheckpoint(t *testing.T, cp *lsm.Checkpoint, fs lsm.FS, dir string) {
	t.Helper()
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range cp.Files() {
		r, err := cp.Open(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		if int64(len(data)) != f.Size {
			t.Fatalf("%s: read %d bytes, Files says %d", f.Name, len(data), f.Size)
		}
		w, err := fs.Create(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
}

func dump(t *testing.T, db *lsm.DB) map[string]string {
	t.Helper()
	m := map[string]string{}
	it := db.NewIterator(nil, nil)
	for it.Next() {
		m[string(it.Key())] = string(it.Value())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCheckpointIsPointInTime takes a checkpoint, then overwrites,
// deletes and compacts (so the checkpoint's tables become obsolete in the
// live DB), and only then copies the files: the copy opens and holds
// exactly the state at the checkpoint, memtable contents included.
func TestCheckpointIsPointInTime(t *testing.T) {
	fs := lsm.NewCrashFS()
	opts := lsm.WithKnobs(lsm.Options{FS: fs, MemtableSize: 8 << 10}, 2, 8<<10, 32<<10, false)
	db, err := lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := db.Put(fmt.Appendf(nil, "k%05d", i), fmt.Appendf(nil, "v1-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Delete([]byte("k00007")); err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("empty"), []byte{}); err != nil {
		t.Fatal(err)
	}
	want := dump(t, db)
	cp, err := db.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		k := fmt.Appendf(nil, "k%05d", i)
		if i%3 == 0 {
			err = db.Delete(k)
		} else {
			err = db.Put(k, fmt.Appendf(nil, "v2-%d", i))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.CompactAll(); err != nil {
		t.Fatal(err)
	}
	copyCheckpoint(t, cp, fs, "/restored")
	if err := cp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Open(cp.Files()[0].Name); err == nil {
		t.Fatal("Open after Close succeeded")
	}
	// The live DB is unharmed by the checkpoint's release.
	live := dump(t, db)
	if len(live) != 2000-667+1 {
		t.Fatalf("live DB has %d keys after the checkpoint closed", len(live))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := lsm.Open("/restored", lsm.Options{FS: fs})
	if err != nil {
		t.Fatalf("open restored checkpoint: %v", err)
	}
	defer r.Close()
	got := dump(t, r)
	if len(got) != len(want) {
		t.Fatalf("restored %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("restored %s = %q, want %q", k, got[k], v)
		}
	}
	if v, err := r.Get([]byte("empty")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("empty value restored as %q, %v", v, err)
	}
	// The restored DB takes writes and keeps them.
	if err := r.Put([]byte("after"), []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointUnderConcurrentWrites takes a checkpoint while writers
// run. Each writer sets its own key to 1, 2, 3, ... and records what was
// acknowledged before the checkpoint began: the restored value of each key
// is at least that (nothing acknowledged is missing), and every counter
// key is consistent with the batch that wrote it (batches are whole).
func TestCheckpointUnderConcurrentWrites(t *testing.T) {
	fs := lsm.NewCrashFS()
	db, err := lsm.Open("/db", lsm.Options{FS: fs, MemtableSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 4
	var stop atomic.Bool
	var acked [writers]atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(1); !stop.Load(); n++ {
				var b lsm.Batch
				v := fmt.Appendf(nil, "%d", n)
				b.Put(fmt.Appendf(nil, "w%d", w), v)
				b.Put(fmt.Appendf(nil, "w%d-copy", w), v)
				b.Put(fmt.Appendf(nil, "w%d/%08d", w, n), bytes.Repeat([]byte{'x'}, 50))
				if err := db.Apply(&b); err != nil {
					t.Error(err)
					return
				}
				acked[w].Store(n)
			}
		}()
	}
	for acked[writers-1].Load() < 500 && !t.Failed() {
		// let the writers fill a few memtables
	}
	var before [writers]int64
	for w := range writers {
		before[w] = acked[w].Load()
	}
	cp, err := db.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	copyCheckpoint(t, cp, fs, "/restored")
	cp.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := lsm.Open("/restored", lsm.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := dump(t, r)
	for w := range writers {
		var n int64
		fmt.Sscanf(got[fmt.Sprintf("w%d", w)], "%d", &n)
		if n < before[w] {
			t.Errorf("writer %d: restored %d, but %d was acknowledged before the checkpoint", w, n, before[w])
		}
		if c := got[fmt.Sprintf("w%d-copy", w)]; c != got[fmt.Sprintf("w%d", w)] {
			t.Errorf("writer %d: half a batch restored: %q vs %q", w, got[fmt.Sprintf("w%d", w)], c)
		}
		for i := int64(1); i <= n; i++ {
			if _, ok := got[fmt.Sprintf("w%d/%08d", w, i)]; !ok {
				t.Fatalf("writer %d: write %d missing though %d is restored", w, i, n)
			}
		}
		if _, ok := got[fmt.Sprintf("w%d/%08d", w, n+1)]; ok {
			t.Errorf("writer %d: write %d restored beyond the counter %d", w, n+1, n)
		}
	}
}
