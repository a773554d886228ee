package lsm_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"amaters-server/lsm"
)

// dirState is every entry under a folder: its mode, size, modification
// time and content hash, to prove that Check changed nothing.
func dirState(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := ""
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		out[path] = fmt.Sprintf("%v %d %v %s", info.Mode(), info.Size(), info.ModTime().UnixNano(), h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkClean(t *testing.T, dir string, opts lsm.CheckOptions) *lsm.CheckReport {
	t.Helper()
	r, err := lsm.Check(dir, opts)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if r.Damaged() {
		t.Fatalf("Check of an intact database found damage: %+v", r.Findings)
	}
	return r
}

func TestCheckGoldens(t *testing.T) {
	for name, g := range formatGoldens {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, filepath.Join("testdata", name), dir)
			before := dirState(t, dir)
			r := checkClean(t, dir, lsm.CheckOptions{})
			if after := dirState(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("Check changed the folder:\nbefore %v\nafter  %v", before, after)
			}
			if r.Format != g.format || r.Tables == 0 || r.TableEntries == 0 || r.Logs == 0 || r.LogBatches == 0 {
				t.Errorf("report %+v: want a format-%d manifest, tables and a log", r, g.format)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCheckReadOnly: Check performs no operation that changes a file
// system, on a database with a torn log, orphans and obsolete files, and
// in a log folder of its own.
func TestCheckReadOnly(t *testing.T) {
	mem := lsm.NewCrashFS()
	opts := lsm.WithKnobs(lsm.Options{FS: mem, MemtableSize: 8 << 10, WALDir: "/wal"}, 2, 8<<10, 16<<10, false)
	db, err := lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		db.Put(fmt.Appendf(nil, "k%05d", i%700), fmt.Appendf(nil, "v%d", i))
	}
	killed := mem.Clone()
	db.Close()
	killed.SetTrace(true)
	r, err := lsm.Check("/db", lsm.CheckOptions{FS: killed, WALDir: "/wal"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Damaged() || r.Tables == 0 || r.Logs == 0 {
		t.Fatalf("report %+v", r)
	}
	if ops := killed.MutatingOps(); len(ops) > 0 {
		t.Fatalf("Check changed the file system: %v", ops)
	}
	// And what it says opens.
	opts.FS = killed
	db, err = lsm.Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestCheckLocked(t *testing.T) {
	dir, wal := t.TempDir(), t.TempDir()
	db, err := lsm.Open(dir, lsm.Options{WALDir: wal})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, opts := range []lsm.CheckOptions{{WALDir: wal}, {}} {
		_, err = lsm.Check(dir, opts)
		var le *lsm.LockedError
		if !errors.As(err, &le) || le.PID != os.Getpid() || le.Dir != dir {
			t.Fatalf("Check of an open database = %v, want a *LockedError naming %s and pid %d", err, dir, os.Getpid())
		}
	}
	if _, err = lsm.Check(t.TempDir(), lsm.CheckOptions{WALDir: wal}); !errors.Is(err, lsm.ErrLocked) {
		t.Fatalf("Check with a log folder in use = %v", err)
	}
}

func TestCheckNoDatabase(t *testing.T) {
	if _, err := lsm.Check(t.TempDir(), lsm.CheckOptions{}); err == nil {
		t.Fatal("Check of an empty folder succeeded")
	}
	if _, err := lsm.Check(filepath.Join(t.TempDir(), "absent"), lsm.CheckOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Check of a missing folder = %v", err)
	}
}
