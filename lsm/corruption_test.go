package lsm_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"amaters-server/lsm"
)

// buildDir writes a database with tables in several levels and unflushed
// writes in the log, and returns a copy of its directory as a killed
// process would leave it.
func buildDir(t *testing.T) (dir string, want map[string]string) {
	t.Helper()
	src := t.TempDir()
	// Stored uncompressed: the damage cases flip fixed offsets of that
	// layout (a later data block at 6000). The damage suite covers
	// compressed tables.
	opts := lsm.WithKnobs(lsm.Options{MemtableSize: 8 << 10, Compression: lsm.NoCompression}, 2, 8<<10, 16<<10, false)
	db, err := lsm.Open(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{}
	b := new(lsm.Batch)
	for i := range 1500 {
		k, v := fmt.Sprintf("key%05d", i*7%1000), fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%50))
		b.Put([]byte(k), []byte(v))
		want[k] = v
		if b.Len() == 10 {
			if err := db.Apply(b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	if err := db.CompactAll(); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		k := fmt.Sprintf("tail%03d", i)
		db.Put([]byte(k), []byte("t"))
		want[k] = "t"
	}
	dir = t.TempDir()
	copyDir(t, src, dir)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, want
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func filesWithSuffix(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) || strings.HasPrefix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x21
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// verify opens dir and reads everything. Every failure must be an
// ErrCorruption naming a file; every value read must be right.
func verify(t *testing.T, dir string, want map[string]string) (openErr, readErr error) {
	t.Helper()
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		return err, nil
	}
	defer db.Close()
	for k, v := range want {
		got, err := db.Get([]byte(k))
		if err != nil {
			if !errors.Is(err, lsm.ErrCorruption) {
				t.Fatalf("Get(%s) error %v is not a corruption", k, err)
			}
			readErr = err
			continue
		}
		if string(got) != v {
			t.Fatalf("Get(%s) = %q, want %q: wrong data served", k, got, v)
		}
	}
	it := db.NewIterator(nil, nil)
	for it.Next() {
		if w, ok := want[string(it.Key())]; !ok || w != string(it.Value()) {
			t.Fatalf("scan: %s = %q, want %q", it.Key(), it.Value(), w)
		}
	}
	if err := it.Close(); err != nil {
		if !errors.Is(err, lsm.ErrCorruption) {
			t.Fatalf("scan error %v is not a corruption", err)
		}
		readErr = err
	}
	return nil, readErr
}

func TestCorruption(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, dir string)
		openFail bool // Open must fail
		readFail bool // some read must fail
		tornTail bool // a torn tail is cut: a write not acknowledged
	}{
		// Open checks each table's footer, index and meta blocks, and its
		// first data block (for its first key); other data blocks are
		// checked as they are read.
		{name: "table first data block", damage: func(t *testing.T, dir string) {
			flip(t, filesWithSuffix(t, dir, ".sst")[0], 100)
		}, openFail: true},
		{name: "table later data block", damage: func(t *testing.T, dir string) {
			flip(t, filesWithSuffix(t, dir, ".sst")[0], 6000)
		}, readFail: true},
		{name: "table footer", damage: func(t *testing.T, dir string) {
			flip(t, filesWithSuffix(t, dir, ".sst")[0], -3)
		}, openFail: true},
		{name: "table index", damage: func(t *testing.T, dir string) {
			flip(t, filesWithSuffix(t, dir, ".sst")[0], -60)
		}, openFail: true},
		{name: "log middle", damage: func(t *testing.T, dir string) {
			flip(t, logsWithData(t, dir)[0], 10)
		}, openFail: true},
		{name: "log last byte", damage: func(t *testing.T, dir string) {
			flip(t, logsWithData(t, dir)[0], -1)
		}, openFail: true},
		// A crash cuts a log written with write(2) at a page boundary,
		// past what was synced; cut anywhere else, or below what the
		// manifest knows synced, it was cut by something else.
		{name: "log torn tail", damage: func(t *testing.T, dir string) {
			tearLog(t, logsWithData(t, dir)[0])
		}, tornTail: true},
		{name: "log cut to a page boundary", damage: func(t *testing.T, dir string) {
			p := logsWithData(t, dir)[0]
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:(len(b)-1)/4096*4096], 0o644)
		}, openFail: true},
		{name: "log cut by 5 bytes", damage: func(t *testing.T, dir string) {
			p := logsWithData(t, dir)[0]
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-5], 0o644)
		}, openFail: true},
		{name: "manifest", damage: func(t *testing.T, dir string) {
			flip(t, filesWithSuffix(t, dir, "MANIFEST-")[0], 12)
		}, openFail: true},
		{name: "CURRENT garbage", damage: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "CURRENT"), []byte("junk\n"), 0o644)
		}, openFail: true},
		{name: "CURRENT missing", damage: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "CURRENT"))
		}, openFail: true},
		{name: "table missing", damage: func(t *testing.T, dir string) {
			os.Remove(filesWithSuffix(t, dir, ".sst")[0])
		}, openFail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, want := buildDir(t)
			tc.damage(t, dir)

			openErr, readErr := verify(t, dir, want)
			if tc.openFail {
				if openErr == nil {
					t.Fatal("Open succeeded on a damaged database")
				}
				var ce *lsm.CorruptionError
				if !errors.As(openErr, &ce) || ce.File == "" {
					t.Fatalf("Open error %v is not a *CorruptionError naming a file", openErr)
				}
				return
			}
			if openErr != nil {
				t.Fatalf("Open: %v", openErr)
			}
			if tc.readFail && readErr == nil {
				t.Fatal("damage went unnoticed")
			}
			if !tc.readFail && readErr != nil {
				t.Fatalf("read error: %v", readErr)
			}
		})
	}
}

// TestTableByteFlips flips bytes all over one table: Open refuses with a
// corruption naming the table (damage in the blocks it checks), or reads
// return the right data or a corruption error, never a wrong answer or a
// panic.
func TestTableByteFlips(t *testing.T) {
	dir, want := buildDir(t)
	table := filesWithSuffix(t, dir, ".sst")[0]
	orig, _ := os.ReadFile(table)
	step := max(1, len(orig)/40)
	for off := 0; off < len(orig); off += step {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			d := t.TempDir()
			copyDir(t, dir, d)
			damaged := filepath.Join(d, filepath.Base(table))
			flip(t, damaged, int64(off))
			openErr, _ := verify(t, d, want)
			var ce *lsm.CorruptionError
			if openErr != nil && (!errors.As(openErr, &ce) || ce.File != damaged) {
				t.Fatalf("Open: %v; want a corruption naming %s", openErr, damaged)
			}
		})
	}
}

// tearLog appends to a log the write a crash interrupted: a record cut
// at a page boundary (lsm.TornWrite).
func tearLog(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, lsm.TornWrite(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTornTailReported(t *testing.T) {
	dir, want := buildDir(t)
	tearLog(t, logsWithData(t, dir)[0])
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := db.Metrics().TornWALTails; n != 1 {
		t.Errorf("TornWALTails = %d, want 1", n)
	}
	// Every acknowledged write is served, the torn record is not, and a
	// scan holds exactly the acknowledged keys.
	for k, v := range want {
		if got, err := db.Get([]byte(k)); err != nil || string(got) != v {
			t.Errorf("%s = %q, %v; want %q", k, got, err, v)
		}
	}
	if _, err := db.Get([]byte("torn")); !errors.Is(err, lsm.ErrNotFound) {
		t.Errorf("the torn record was replayed: Get(torn) = %v", err)
	}
	it := db.NewIterator(nil, nil)
	n := 0
	for it.Next() {
		if v, found := want[string(it.Key())]; !found || v != string(it.Value()) {
			t.Errorf("scan: %s = %q, not an acknowledged write", it.Key(), it.Value())
		}
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("scan returned %d keys, want %d", n, len(want))
	}
}
