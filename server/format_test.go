package server_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"amaters-server/server/backup"
	"amaters-server/server/config"
)

// testdata/backup-v1.tar is a backup written once by this code and
// committed: what a user keeps on tape. TestBackupFormatGolden restores it
// and serves it, so that neither the archive layout, nor the way keys of
// collections are laid out in the engine, can change without a test
// saying so. A golden is never rewritten; a new format adds backup-v2.tar
// (and the code that still restores v1, or refuses it saying what to do).
// AMATERS_WRITE_FORMAT_GOLDEN=1 go test ./server -run TestWriteBackupGolden
// writes it when it is missing.
const backupGolden = "testdata/backup-v1.tar"

// goldenWrite is one write of goldenHistory.
type goldenWrite struct {
	collection string
	key, value []byte
	delete     bool
}

// goldenHistory is the history stored in the golden backup: collections
// whose names are prefixes of each other, keys with slashes, dots, NUL and
// 0xff bytes, empty and long values, overwrites and deletes.
func goldenHistory() []goldenWrite {
	rng := rand.New(rand.NewPCG(20261126, 9))
	collections := []string{"users", "users2", "u", "a.b", "x_y-z"}
	keys := [][]byte{[]byte("k"), []byte("a/b/c"), []byte(".."), []byte("%2F"), {0}, {0xff, 0}, []byte("key with spaces"), bytes.Repeat([]byte("K"), 300)}
	for i := range 60 {
		keys = append(keys, fmt.Appendf(nil, "item-%03d", i))
	}
	var h []goldenWrite
	for i := range 600 {
		w := goldenWrite{collection: collections[rng.IntN(len(collections))], key: keys[rng.IntN(len(keys))]}
		switch n := rng.IntN(20); {
		case n < 3:
			w.delete = true
		case n == 3:
			w.value = []byte{}
		case n == 4:
			w.value = bytes.Repeat([]byte{byte(i)}, 3000)
		default:
			w.value = fmt.Appendf(nil, "value %d: %x", i, rng.Uint64())
		}
		h = append(h, w)
	}
	return h
}

// goldenModel is what the golden backup holds: collection, then key, then
// value.
func goldenModel() map[string]map[string][]byte {
	m := map[string]map[string][]byte{}
	for _, w := range goldenHistory() {
		if m[w.collection] == nil {
			m[w.collection] = map[string][]byte{}
		}
		if w.delete {
			delete(m[w.collection], string(w.key))
		} else {
			m[w.collection][string(w.key)] = w.value
		}
	}
	return m
}

func TestBackupFormatGolden(t *testing.T) {
	info, err := func() (backup.Info, error) {
		f, err := os.Open(backupGolden)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return backup.Verify(f)
	}()
	if err != nil {
		t.Fatalf("the committed %s: %v", backupGolden, err)
	}
	if info.Format != 1 || info.Engine != "lsm" {
		t.Errorf("FORMAT %+v", info)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(t.Context(), backupGolden, dir, nil); err != nil {
		t.Fatalf("restore of %s: %v", backupGolden, err)
	}
	ts := startServer(t, func(c *config.Config) { c.Storage.Engine = "lsm"; c.Server.DataDir = dir })
	want := goldenModel()
	for c, keys := range want {
		got := rangeAll(t, ts, c, "", 1000)
		if len(got) != len(keys) {
			t.Errorf("collection %s: %d keys, want %d", c, len(got), len(keys))
		}
		for _, it := range got {
			if v, ok := keys[string(it.Key)]; !ok || !bytes.Equal(it.Value, v) {
				t.Errorf("collection %s: key %q has %d bytes, want %d (present %v)", c, it.Key, len(it.Value), len(v), ok)
			}
		}
	}
	for _, w := range goldenHistory() { // each key the history touched, by GET
		v, ok := want[w.collection][string(w.key)]
		r := do(t, "GET", keyURL(ts, w.collection, w.key), nil)
		switch {
		case ok && (r.status != 200 || !bytes.Equal(r.body, v)):
			t.Fatalf("GET %s/%q: %d, %d bytes; want %d bytes", w.collection, w.key, r.status, len(r.body), len(v))
		case !ok && r.status != 404:
			t.Fatalf("GET %s/%q of a deleted key: %d", w.collection, w.key, r.status)
		}
	}
}

// TestWriteBackupGolden writes testdata/backup-v1.tar when it is missing;
// it does nothing unless AMATERS_WRITE_FORMAT_GOLDEN=1.
func TestWriteBackupGolden(t *testing.T) {
	if os.Getenv("AMATERS_WRITE_FORMAT_GOLDEN") != "1" {
		t.Skip("writes testdata/backup-v1.tar only when AMATERS_WRITE_FORMAT_GOLDEN=1")
	}
	if _, err := os.Stat(backupGolden); err == nil {
		t.Skipf("%s exists; a golden is never rewritten", backupGolden)
	}
	ts := startServer(t, func(c *config.Config) { c.Storage.Engine = "lsm" })
	for _, w := range goldenHistory() {
		method, body, want := "PUT", w.value, 204
		if w.delete {
			method, body = "DELETE", nil
		}
		if r := do(t, method, keyURL(ts, w.collection, w.key), body); r.status != want && !(w.delete && r.status == 404) {
			t.Fatalf("%s %s/%q: %d %s", method, w.collection, w.key, r.status, r.body)
		}
	}
	r := getBackup(t, ts)
	if r.status != 200 {
		t.Fatalf("backup: %d %s", r.status, r.body)
	}
	if err := os.WriteFile(backupGolden, r.body, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s, %d bytes", backupGolden, len(r.body))
}
