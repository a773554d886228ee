package lsm_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"amaters-server/lsm"
)

// The on-disk format is a promise: a folder written by one release opens
// in every later one. testdata/format-v1 and testdata/format-v1-mapped are
// databases written once by this code and committed; TestFormatGoldens
// opens copies of them and checks every key. They hold tables on two
// levels (tombstones, overwrites, empty values, values larger than a block)
// and a write-ahead log that still has to be replayed (records that span
// log blocks, batches): format-v1's log was appended with write(2) and
// fsynced (SyncAlways), format-v1-mapped's through the memory mapping
// SyncNone uses on Linux, zero tail and all, as a killed process leaves
// it.
//
// A golden folder is never rewritten. A change of format adds
// format-v2 (with code that still reads v1, or a refusal that says what
// to do); LSM_WRITE_FORMAT_GOLDEN=1 go test -run TestWriteFormatGoldens
// writes the folders that are missing.
//
// Format 2 (release 0.3) changed only the manifest: it begins with a
// format tag release 0.2 does not know, so 0.2 refuses it ("unknown tag
// 6") rather than misreading it, and records tables' checksums, the live
// logs and the database's identity. A format-1 folder is upgraded by its
// first Open, which writes a format-2 manifest; there is no way back to
// 0.2 but a backup.
//
// Release 0.4 compresses table data blocks with Snappy by default; the
// manifest is unchanged (format 2). format-v2-snappy holds such tables
// (each block's trailer says how it is stored), and the older goldens'
// tables, stored as they are, must read alike.

// formatGolden is a golden folder: the sync mode it was written in, and
// its manifest's format.
type formatGolden struct {
	sync   lsm.SyncMode
	format int
}

var formatGoldens = map[string]formatGolden{
	"format-v1":        {lsm.SyncAlways, 1},
	"format-v1-mapped": {lsm.SyncNone, 1},
	"format-v2":        {lsm.SyncAlways, 2},
	"format-v2-mapped": {lsm.SyncNone, 2},
	"format-v2-snappy": {lsm.SyncAlways, 2},
}

// formatOp is one write of a batch of formatHistory.
type formatOp struct {
	key, value []byte
	delete     bool
}

// formatHistory is the history stored in the golden folders. It calls
// apply for each batch, and flush or compact where the tables were cut;
// after it returns, the batches since the last flush are only in the log.
func formatHistory(apply func([]formatOp), flush, compact func()) {
	rng := rand.New(rand.NewPCG(20261126, 1))
	key := func() []byte { return fmt.Appendf(nil, "key-%04d", rng.IntN(700)) }
	value := func(i int) []byte {
		switch rng.IntN(100) {
		case 0, 1, 2, 3, 4:
			return []byte{} // an empty value is a value
		case 5:
			// Larger than a table block, and than a log block.
			return bytes.Repeat([]byte{byte(i)}, 5000+rng.IntN(40000))
		}
		return fmt.Appendf(nil, "value %d of %d", rng.Uint32(), i)
	}
	batches := func(n int) {
		for i := range n {
			var ops []formatOp
			for range 1 + rng.IntN(12) {
				if rng.IntN(5) == 0 {
					ops = append(ops, formatOp{key: key(), delete: true})
				} else {
					ops = append(ops, formatOp{key: key(), value: value(i)})
				}
			}
			apply(ops)
		}
	}
	// Four flushes compacted into the level below, two more on level 0,
	// then a log to replay.
	for range 4 {
		batches(40)
		flush()
	}
	compact()
	for range 2 {
		batches(25)
		flush()
	}
	batches(30)
	// A record fragmented across log blocks, then more after it.
	apply([]formatOp{{key: []byte("key-0699"), value: bytes.Repeat([]byte("L"), 70000)}})
	batches(10)
}

// formatModel is what the golden folders hold.
func formatModel() map[string][]byte {
	m := map[string][]byte{}
	formatHistory(func(ops []formatOp) {
		for _, op := range ops {
			if op.delete {
				delete(m, string(op.key))
			} else {
				m[string(op.key)] = op.value
			}
		}
	}, func() {}, func() {})
	return m
}

func TestFormatGoldens(t *testing.T) {
	want := formatModel()
	for name := range formatGoldens {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, filepath.Join("testdata", name), dir)
			db, err := lsm.Open(dir, lsm.Options{})
			if err != nil {
				t.Fatalf("Open of the committed %s: %v", name, err)
			}
			m := db.Metrics()
			if m.TornWALTails != 0 {
				t.Errorf("%d torn log tails cut in a clean golden", m.TornWALTails)
			}
			if m.Levels[0].Files == 0 || tablesBelowL0(m) == 0 {
				t.Errorf("the golden should hold tables on level 0 and below: %+v", m.Levels)
			}
			checkContents(t, db, want)
			// It stays writable, and what it holds survives a reopen.
			if err := db.Put([]byte("key-new"), []byte("after")); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			// The first Open upgraded it to the current format.
			if r := checkClean(t, dir, lsm.CheckOptions{}); r.Format != 2 {
				t.Errorf("after Open, the manifest is format %d, want 2", r.Format)
			}
			want := withKey(want, "key-new", "after")
			if db, err = lsm.Open(dir, lsm.Options{}); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			checkContents(t, db, want)
		})
	}
}

func tablesBelowL0(m lsm.Metrics) int {
	n := 0
	for _, l := range m.Levels[1:] {
		n += l.Files
	}
	return n
}

// withKey returns a copy of m with key set to value.
func withKey(m map[string][]byte, key, value string) map[string][]byte {
	c := make(map[string][]byte, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	c[key] = []byte(value)
	return c
}

// checkContents compares db with want by Get of every key and by a full
// scan.
func checkContents(t *testing.T, db *lsm.DB, want map[string][]byte) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k, v := range want {
		keys = append(keys, k)
		got, err := db.Get([]byte(k))
		if err != nil || !bytes.Equal(got, v) || got == nil {
			t.Fatalf("Get(%q) = %d bytes, %v; want %d bytes", k, len(got), err, len(v))
		}
	}
	for i := range 700 { // every key the history used, deleted ones too
		k := fmt.Sprintf("key-%04d", i)
		if _, ok := want[k]; !ok {
			if v, err := db.Get([]byte(k)); err != lsm.ErrNotFound {
				t.Fatalf("Get(%q) of a deleted or never written key = %q, %v", k, v, err)
			}
		}
	}
	slices.Sort(keys)
	it := db.NewIterator(nil, nil)
	i := 0
	for it.Next() {
		if i >= len(keys) || string(it.Key()) != keys[i] || !bytes.Equal(it.Value(), want[keys[i]]) {
			t.Fatalf("scan step %d: key %q", i, it.Key())
		}
		i++
	}
	if err := it.Close(); err != nil || i != len(keys) {
		t.Fatalf("scan saw %d of %d keys, %v", i, len(keys), err)
	}
}

// TestWriteFormatGoldens writes the golden folders that are missing; it
// does nothing unless LSM_WRITE_FORMAT_GOLDEN=1.
func TestWriteFormatGoldens(t *testing.T) {
	if os.Getenv("LSM_WRITE_FORMAT_GOLDEN") != "1" {
		t.Skip("writes testdata/format-* only when LSM_WRITE_FORMAT_GOLDEN=1")
	}
	for name, g := range formatGoldens {
		sync := g.sync
		out := filepath.Join("testdata", name)
		if _, err := os.Stat(out); err == nil {
			t.Logf("%s exists; a golden is never rewritten", out)
			continue
		}
		if sync == lsm.SyncNone && runtime.GOOS != "linux" {
			t.Fatalf("%s needs the mapped log, which is Linux's", name)
		}
		dir := t.TempDir()
		opts := lsm.WithKnobs(lsm.Options{MemtableSize: 1 << 20, Sync: sync}, 0, 32<<10, 0, true)
		db, err := lsm.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		formatHistory(func(ops []formatOp) {
			b := new(lsm.Batch)
			for _, op := range ops {
				if op.delete {
					b.Delete(op.key)
				} else {
					b.Put(op.key, op.value)
				}
			}
			if err := db.Apply(b); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := db.CompactAll(); err != nil {
				t.Fatal(err)
			}
		})
		// Copy the folder as a killed process would leave it: with no
		// background work (automatic compaction is off), the log
		// unflushed.
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		copyDir(t, dir, out)
		m := db.Metrics()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: levels %+v, log %d bytes", out, m.Levels, m.WALBytes)
	}
}

// A database of release 0.2 whose logs are in a folder of their own, as
// the server keeps them (data/wal): the first Open upgrades it and gives
// the log folder this database's IDENTITY; another database is then
// refused the folder.
func TestFormatV1SeparateLogFolder(t *testing.T) {
	want := formatModel()
	dir, wal := t.TempDir(), t.TempDir()
	src := filepath.Join("testdata", "format-v1")
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		to := dir
		if filepath.Ext(e.Name()) == ".log" {
			to = wal
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	checkClean(t, dir, lsm.CheckOptions{WALDir: wal})
	for range 2 {
		db, err := lsm.Open(dir, lsm.Options{WALDir: wal})
		if err != nil {
			t.Fatal(err)
		}
		checkContents(t, db, want)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(wal, "IDENTITY")); err != nil {
			t.Fatalf("no IDENTITY in the log folder: %v", err)
		}
	}
	if r := checkClean(t, dir, lsm.CheckOptions{WALDir: wal}); r.Format != 2 {
		t.Fatalf("format %d after Open", r.Format)
	}
	if db, err := lsm.Open(t.TempDir(), lsm.Options{WALDir: wal}); err == nil {
		db.Close()
		t.Fatal("another database opened on the log folder")
	}
}
