package lsm_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"amaters-server/lsm"
)

// Open deletes only what is provably obsolete (temporary files, tables
// numbered past the manifest's last next file number, older manifests)
// and moves what only looks orphaned (a table numbered below it that the
// manifest does not list) to lost+found, counting it.
func TestLostFound(t *testing.T) {
	dir, want := buildDir(t)
	tables := filesWithSuffix(t, dir, ".sst")
	var nums []int
	for _, p := range tables {
		var n int
		fmt.Sscanf(filepath.Base(p), "%d.sst", &n)
		nums = append(nums, n)
	}
	// A number the database used for its manifest was never a table's,
	// so no manifest edit deleted a table of that number: a table file of
	// that number only looks orphaned.
	manifests := filesWithSuffix(t, dir, "MANIFEST-")
	if len(manifests) == 0 {
		t.Fatal("no manifest")
	}
	var orphan int
	if _, err := fmt.Sscanf(filepath.Base(manifests[0]), "MANIFEST-%d", &orphan); err != nil {
		t.Fatalf("manifest %s: %v", manifests[0], err)
	}
	data, _ := os.ReadFile(tables[0])
	orphanPath := filepath.Join(dir, fmt.Sprintf("%06d.sst", orphan))
	os.WriteFile(orphanPath, data, 0o600)
	// Made after the manifest's last edit, and never finished: provably
	// obsolete.
	garbage := filepath.Join(dir, "999990.sst")
	os.WriteFile(garbage, data, 0o600)
	tmp := filepath.Join(dir, "999991.sst.tmp")
	os.WriteFile(tmp, []byte("partial"), 0o600)
	if err := intactOrRefused(t, dir, lsm.Options{}, want); err != nil {
		t.Fatal(err)
	}
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := db.Metrics()
	db.Close()
	moved := filepath.Join(dir, "lost+found", filepath.Base(orphanPath))
	if b, err := os.ReadFile(moved); err != nil || len(b) != len(data) {
		t.Fatalf("the orphan table is not in lost+found: %v", err)
	}
	for _, p := range []string{orphanPath, garbage, tmp} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	// The first Open moved it; the second counts what is there.
	if m.LostFoundFiles != 1 || m.MovedToLostFound != 0 {
		t.Errorf("second Open: LostFoundFiles %d, MovedToLostFound %d; want 1, 0", m.LostFoundFiles, m.MovedToLostFound)
	}
	if st, err := os.Stat(filepath.Join(dir, "lost+found")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("lost+found: %v, %v; want a folder of mode 0700", st.Mode(), err)
	}
	r := checkClean(t, dir, lsm.CheckOptions{})
	if !slices.ContainsFunc(r.Findings, func(f lsm.Finding) bool { return filepath.Base(f.File) == "lost+found" }) {
		t.Errorf("Check does not mention lost+found: %+v", r.Findings)
	}
}

// Every file the database creates is 0600, every folder 0700.
func TestFileModes(t *testing.T) {
	root := t.TempDir()
	dir, wal := filepath.Join(root, "db", "data"), filepath.Join(root, "wal")
	db, err := lsm.Open(dir, lsm.Options{WALDir: wal, MemtableSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, db, 2000, "k")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range []string{filepath.Join(root, "db"), wal} {
		filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			info, _ := e.Info()
			want := fs.FileMode(0o600)
			if e.IsDir() {
				want = 0o700
			}
			if info.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
			}
			n++
			return nil
		})
	}
	if n < 8 {
		t.Fatalf("only %d entries", n)
	}
}
