package lsm_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"amaters-server/lsm"
)

// Damaged or cut files found by a review (issue 13): a cut or torn
// manifest, a damaged write(2) log, damaged tables, a shared log folder,
// a missing manifest. Each case must end in a refusal that names a file,
// or in a database that serves every acknowledged write; a smaller or
// different database is a failure.

// intactOrRefused opens dir and returns the refusal, or nil after
// checking that every key of want is served with its value and a full
// scan returns exactly want. It fails the test on any silent loss.
func intactOrRefused(t *testing.T, dir string, opts lsm.Options, want map[string]string) error {
	t.Helper()
	db, err := lsm.Open(dir, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	var lost []string
	for k, v := range want {
		got, err := db.Get([]byte(k))
		if err != nil || string(got) != v {
			lost = append(lost, k)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Fatalf("Open succeeded but %d of %d acknowledged keys are missing or wrong (first %s)", len(lost), len(want), lost[0])
	}
	it := db.NewIterator(nil, nil)
	n := 0
	for it.Next() {
		if v, ok := want[string(it.Key())]; !ok || v != string(it.Value()) {
			t.Fatalf("scan: %q = %q, want %q (present %v)", it.Key(), it.Value(), v, ok)
		}
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if n != len(want) {
		t.Fatalf("scan saw %d keys, want %d", n, len(want))
	}
	return nil
}

// wantRefusal fails unless err is a refusal naming file (a path under
// the database or log folder).
func wantRefusal(t *testing.T, err error, file string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Open succeeded; want a refusal naming %s", file)
	}
	if !strings.Contains(err.Error(), file) {
		t.Fatalf("refusal %q does not name %s", err, file)
	}
}

// writeKeys puts n keys into db, in batches of 50 (fewer fsyncs), and
// returns them.
func writeKeys(t *testing.T, db *lsm.DB, n int, prefix string) map[string]string {
	t.Helper()
	want := map[string]string{}
	b := new(lsm.Batch)
	for i := range n {
		k, v := fmt.Sprintf("%s%06d", prefix, i), fmt.Sprintf("value-%d-%s", i, strings.Repeat("v", i%40))
		b.Put([]byte(k), []byte(v))
		want[k] = v
		if b.Len() == 50 || i == n-1 {
			if err := db.Apply(b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	return want
}

// killedCopy returns a copy of src as a process killed now would leave
// it (what the page cache holds).
func killedCopy(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, src, dir)
	return dir
}

func onlyFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	var out []string
	for _, p := range filesWithSuffix(t, dir, suffix) {
		if b, err := os.ReadFile(p); err == nil && slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
			out = append(out, p)
		}
	}
	if len(out) != 1 {
		t.Fatalf("want one non-empty %s file in %s, have %v", suffix, dir, out)
	}
	return out[0]
}

// logsWithData returns the logs in dir that hold a byte other than zero:
// not a log prepared ahead of a memtable switch (empty, or with SyncNone
// a zero-filled reservation).
func logsWithData(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, p := range filesWithSuffix(t, dir, ".log") {
		if b, err := os.ReadFile(p); err == nil && slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
			out = append(out, p)
		}
	}
	return out
}

func truncateFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedFilesRefusedOrIntact(t *testing.T) {
	// 1. MANIFEST cut by one byte after a clean stop, and more: tearing
	// each of its last edits in turn, among them the last flush's, whose
	// log is gone; and cut to half.
	t.Run("1 manifest cut", func(t *testing.T) {
		src := t.TempDir()
		db, err := lsm.Open(src, lsm.Options{MemtableSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		want := writeKeys(t, db, 8000, "k")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(filesWithSuffix(t, src, "MANIFEST-")[0])
		refused := 0
		for _, cut := range []int64{1, 2, 5, 10, 20, 30, 40, 60, 80, 100, 150, 200, st.Size() / 2} {
			t.Run(fmt.Sprint(cut), func(t *testing.T) {
				dir := killedCopy(t, src)
				m := filesWithSuffix(t, dir, "MANIFEST-")[0]
				truncateFile(t, m, st.Size()-cut)
				if err := intactOrRefused(t, dir, lsm.Options{}, want); err != nil {
					wantRefusal(t, err, dir)
					refused++
				}
			})
		}
		if refused == 0 {
			t.Error("no cut tore an edit that mattered")
		}
	})

	// 2. The live log deleted or emptied after acknowledged writes, as a
	// killed process left it.
	for _, mode := range []lsm.SyncMode{lsm.SyncAlways, lsm.SyncNone} {
		for _, how := range []string{"deleted", "emptied"} {
			t.Run(fmt.Sprintf("2 log %s sync=%v", how, mode), func(t *testing.T) {
				src := t.TempDir()
				db, err := lsm.Open(src, lsm.Options{Sync: mode})
				if err != nil {
					t.Fatal(err)
				}
				want := writeKeys(t, db, 3000, "k")
				dir := killedCopy(t, src)
				db.Close()
				log := onlyFile(t, dir, ".log")
				if how == "deleted" {
					os.Remove(log)
				} else {
					truncateFile(t, log, 0)
				}
				if mode == lsm.SyncNone && how == "emptied" && runtime.GOOS != "linux" {
					t.Skip("an emptied SyncNone log is detected through its reservation, which only the mapped log on Linux has")
				}
				wantRefusal(t, intactOrRefused(t, dir, lsm.Options{}, want), filepath.Base(log))
			})
		}
	}

	// 3. A log written with write(2) (SyncAlways) cut to half, or zeroed
	// from the middle to the end.
	for _, how := range []string{"cut to half", "zeroed from the middle"} {
		t.Run("3 write(2) log "+how, func(t *testing.T) {
			src := t.TempDir()
			db, err := lsm.Open(src, lsm.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := writeKeys(t, db, 3000, "k")
			dir := killedCopy(t, src)
			db.Close()
			log := onlyFile(t, dir, ".log")
			b, _ := os.ReadFile(log)
			if how == "cut to half" {
				truncateFile(t, log, int64(len(b)/2))
			} else {
				clear(b[len(b)/2:])
				os.WriteFile(log, b, 0o600)
			}
			wantRefusal(t, intactOrRefused(t, dir, lsm.Options{}, want), filepath.Base(log))
		})
	}

	// 4. (A mapped log with a bit flipped before the end of its data:
	// TestMappedLogBitFlipRefused, in maplog_linux_test.go.)

	// 5. One table copied over another, or two tables of equal size
	// swapped.
	for _, how := range []string{"copied over", "swapped"} {
		t.Run("5 table "+how, func(t *testing.T) {
			dir := t.TempDir()
			// Uncompressed, so that the tables are the same size.
			opts := lsm.WithKnobs(lsm.Options{MemtableSize: 32 << 10, Compression: lsm.NoCompression}, 0, 0, 0, true)
			db, err := lsm.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			// Tables of the same size: the same number of keys and
			// value lengths, different keys.
			for tab := range 3 {
				b := new(lsm.Batch)
				for i := range 500 {
					k, v := fmt.Sprintf("t%d-%05d", tab, i), fmt.Sprintf("v%d-%05d", tab, i)
					b.Put([]byte(k), []byte(v))
					want[k] = v
				}
				if err := db.Apply(b); err != nil {
					t.Fatal(err)
				}
				if err := db.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			tables := filesWithSuffix(t, dir, ".sst")
			if len(tables) < 2 {
				t.Fatalf("tables %v", tables)
			}
			a, _ := os.ReadFile(tables[0])
			b, _ := os.ReadFile(tables[1])
			if how == "swapped" {
				if len(a) != len(b) {
					t.Fatalf("tables of %d and %d bytes: not equal", len(a), len(b))
				}
				os.WriteFile(tables[0], b, 0o600)
			}
			os.WriteFile(tables[1], a, 0o600)
			err = intactOrRefused(t, dir, lsm.Options{}, want)
			wantRefusal(t, err, filepath.Base(tables[1]))
			if !errors.Is(err, lsm.ErrCorruption) {
				t.Fatalf("refusal %v is not ErrCorruption", err)
			}
		})
	}

	// 6. Two databases sharing a log folder: the second must not start.
	t.Run("6 shared WAL folder", func(t *testing.T) {
		wal := t.TempDir()
		a, err := lsm.Open(t.TempDir(), lsm.Options{WALDir: wal})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := lsm.Open(t.TempDir(), lsm.Options{WALDir: wal})
		want := writeKeys(t, a, 100, "a")
		if err == nil {
			b.Close()
			t.Fatal("a second database opened on the same log folder")
		}
		var le *lsm.LockedError
		if !errors.As(err, &le) || le.PID != os.Getpid() || !strings.Contains(err.Error(), wal) {
			t.Fatalf("refusal %v: want a *LockedError naming %s and pid %d", err, wal, os.Getpid())
		}
		for k, v := range want {
			if got, err := a.Get([]byte(k)); err != nil || string(got) != v {
				t.Fatalf("%s = %q, %v", k, got, err)
			}
		}
	})

	// 7. A missing MANIFEST is reported as such, not as a missing CURRENT.
	t.Run("7 manifest missing", func(t *testing.T) {
		dir := t.TempDir()
		db, err := lsm.Open(dir, lsm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := writeKeys(t, db, 100, "k")
		db.Close()
		m := filesWithSuffix(t, dir, "MANIFEST-")[0]
		os.Remove(m)
		err = intactOrRefused(t, dir, lsm.Options{}, want)
		var ce *lsm.CorruptionError
		if !errors.As(err, &ce) || ce.File != m {
			t.Fatalf("refusal %v: want a *CorruptionError naming %s", err, m)
		}
		if strings.Contains(err.Error(), "CURRENT is missing") {
			t.Fatalf("refusal %q blames CURRENT", err)
		}
	})

	// 8. A table with a damaged footer or index stops the start.
	for _, where := range []string{"footer", "index"} {
		t.Run("8 table "+where+" damaged", func(t *testing.T) {
			dir, want := buildDir(t)
			table := filesWithSuffix(t, dir, ".sst")[0]
			off := int64(-3)
			if where == "index" {
				off = -60
			}
			flip(t, table, off)
			wm := map[string]string(want)
			wantRefusal(t, intactOrRefused(t, dir, lsm.Options{}, wm), filepath.Base(table))
		})
	}
}
