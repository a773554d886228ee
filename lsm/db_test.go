package lsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"amaters-server/lsm"
)

func openMem(t *testing.T, fs lsm.FS, opts lsm.Options) *lsm.DB {
	t.Helper()
	opts.FS = fs
	db, err := lsm.Open("/db", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestBasic(t *testing.T) {
	fs := lsm.NewMemFS()
	db := openMem(t, fs, lsm.Options{MemtableSize: 8 << 10})
	for i := range 2000 {
		if err := db.Put(fmt.Appendf(nil, "key%05d", i), fmt.Appendf(nil, "val%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2000; i += 3 {
		if err := db.Delete(fmt.Appendf(nil, "key%05d", i)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(db *lsm.DB) {
		t.Helper()
		for i := range 2000 {
			v, err := db.Get(fmt.Appendf(nil, "key%05d", i))
			if i%3 == 0 {
				if !errors.Is(err, lsm.ErrNotFound) {
					t.Fatalf("Get deleted key%05d = %q, %v", i, v, err)
				}
				continue
			}
			if err != nil || string(v) != fmt.Sprintf("val%d", i) {
				t.Fatalf("Get key%05d = %q, %v", i, v, err)
			}
		}
		it := db.NewIterator(nil, nil)
		n := 0
		for it.Next() {
			n++
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if want := 2000 - 667; n != want {
			t.Fatalf("iterated %d keys, want %d", n, want)
		}
	}
	check(db)
	m := db.Metrics()
	t.Logf("metrics: %+v", m)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openMem(t, fs, lsm.Options{MemtableSize: 8 << 10})
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotOfEmptyDB(t *testing.T) {
	db := openMem(t, lsm.NewMemFS(), lsm.Options{})
	defer db.Close()
	s := db.Snapshot()
	defer s.Close()
	db.Put([]byte("k"), []byte("v"))
	if _, err := s.Get([]byte("k")); !errors.Is(err, lsm.ErrNotFound) {
		t.Fatalf("snapshot of an empty DB sees a later write: %v", err)
	}
	it := s.NewIterator(nil, nil)
	if it.Next() {
		t.Fatal("snapshot iterator sees a later write")
	}
	it.Close()
}

func TestEmptyValueAndEmptyKey(t *testing.T) {
	db := openMem(t, lsm.NewMemFS(), lsm.Options{})
	defer db.Close()
	db.Put([]byte(""), []byte("empty key"))
	db.Put([]byte("e"), nil)
	for _, flush := range []bool{false, true} {
		if flush {
			db.Flush()
		}
		v, err := db.Get([]byte("e"))
		if err != nil || v == nil || len(v) != 0 {
			t.Fatalf("empty value: %q (nil=%v), %v", v, v == nil, err)
		}
		v, err = db.Get([]byte(""))
		if err != nil || string(v) != "empty key" {
			t.Fatalf("empty key: %q, %v", v, err)
		}
		it := db.NewIterator(nil, nil)
		var keys []string
		for it.Next() {
			keys = append(keys, string(it.Key()))
			if it.Value() == nil {
				t.Fatal("iterator Value nil")
			}
		}
		it.Close()
		if len(keys) != 2 || keys[0] != "" || keys[1] != "e" {
			t.Fatalf("keys %q", keys)
		}
	}
}

func TestClosed(t *testing.T) {
	db := openMem(t, lsm.NewMemFS(), lsm.Options{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := db.Put([]byte("k"), nil); !errors.Is(err, lsm.ErrClosed) {
		t.Errorf("Put after Close = %v", err)
	}
	if _, err := db.Get([]byte("k")); !errors.Is(err, lsm.ErrClosed) {
		t.Errorf("Get after Close = %v", err)
	}
	if err := db.NewIterator(nil, nil).Close(); !errors.Is(err, lsm.ErrClosed) {
		t.Errorf("iterator after Close = %v", err)
	}
}

func TestCallerMayReuseBuffers(t *testing.T) {
	db := openMem(t, lsm.NewMemFS(), lsm.Options{})
	defer db.Close()
	k, v := []byte("key"), []byte("value")
	db.Put(k, v)
	k[0], v[0] = 'X', 'X'
	got, err := db.Get([]byte("key"))
	if err != nil || string(got) != "value" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	got[0] = 'Y'
	if again, _ := db.Get([]byte("key")); string(again) != "value" {
		t.Fatalf("returned value aliases the DB: %q", again)
	}
}

func TestLockedByOtherOpen(t *testing.T) {
	dir := t.TempDir()
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := lsm.Open(dir, lsm.Options{}); err == nil {
		t.Fatal("second Open of the same directory succeeded")
	}
}

func TestInvalidOptions(t *testing.T) {
	_, err := lsm.Open(t.TempDir(), lsm.Options{MemtableSize: 10, Sync: 7, CompactionThreads: -1})
	if err == nil {
		t.Fatal("accepted")
	}
	t.Log(err)
}

func TestSyncModesAndWALDir(t *testing.T) {
	for _, mode := range []lsm.SyncMode{lsm.SyncAlways, lsm.SyncInterval, lsm.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := lsm.NewCrashFS()
			opts := lsm.Options{FS: fs, Sync: mode, WALDir: "/wal", MemtableSize: 8 << 10}
			db, err := lsm.Open("/db", opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 300 {
				db.Put(fmt.Appendf(nil, "k%03d", i), []byte("v"))
			}
			// A kill (not a power cut) loses nothing in any mode.
			killed := fs.Clone()
			db.Close()
			opts.FS = killed
			db, err = lsm.Open("/db", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for i := range 300 {
				if _, err := db.Get(fmt.Appendf(nil, "k%03d", i)); err != nil {
					t.Fatalf("k%03d: %v", i, err)
				}
			}
			logs, _ := killed.List("/wal")
			if len(logs) == 0 {
				t.Error("no log in WALDir")
			}
		})
	}
}

// TestBatchLargerThanMemtable: a batch bigger than a whole memtable gets
// a memtable of its own, when written and when its log is replayed after
// a process kill.
func TestBatchLargerThanMemtable(t *testing.T) {
	fs := lsm.NewCrashFS()
	opts := lsm.Options{FS: fs, MemtableSize: 8 << 10, Sync: lsm.SyncNone}
	db, err := lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("before"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	var b lsm.Batch
	for i := range 200 {
		b.Put(fmt.Appendf(nil, "big%04d", i), bytes.Repeat([]byte{byte(i)}, 200)) // 40 KB in all
	}
	if err := db.Apply(&b); err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("after"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	check := func(db *lsm.DB) {
		t.Helper()
		for i := range 200 {
			v, err := db.Get(fmt.Appendf(nil, "big%04d", i))
			if err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 200)) {
				t.Fatalf("big%04d: %d bytes, %v", i, len(v), err)
			}
		}
		for _, k := range []string{"before", "after"} {
			if _, err := db.Get([]byte(k)); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
		}
	}
	check(db)
	killed := fs.Clone() // the log holds all three writes, none flushed
	db.Close()
	opts.FS = killed
	db, err = lsm.Open("/db", opts)
	if err != nil {
		t.Fatalf("replaying a log with a batch larger than a memtable: %v", err)
	}
	defer db.Close()
	check(db)
}
