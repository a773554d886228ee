package server_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"amaters-server/server"
	"amaters-server/server/backup"
	"amaters-server/server/config"
)

// testdata/backup-v1-rev3.tar is the golden of the 0.3 data format
// (server/store format 3: values in envelopes with their mod revision and
// expiry, the revision meta key, the expiry index), in the same archive
// format 1 as backup-v1.tar, which holds 0.2 data. It was written once, by
// TestWriteRevisionGolden, with goldenHistory plus two keys with an expiry,
// at the fixed time goldenClock: one that expired a minute later (so it
// is expired, but not yet deleted, in the archive), one that expires ten
// years later. Never rewritten.
const revisionGolden = "testdata/backup-v1-rev3.tar"

var goldenClock = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// goldenRevisions is the mod revision of every key goldenHistory leaves,
// and the database revision at its end: each PUT takes the next, a DELETE
// only when the key existed.
func goldenRevisions() (map[string]map[string]uint64, uint64) {
	m := map[string]map[string]uint64{}
	var rev uint64
	for _, w := range goldenHistory() {
		if m[w.collection] == nil {
			m[w.collection] = map[string]uint64{}
		}
		_, ok := m[w.collection][string(w.key)]
		switch {
		case w.delete && ok:
			rev++
			delete(m[w.collection], string(w.key))
		case !w.delete:
			rev++
			m[w.collection][string(w.key)] = rev
		}
	}
	return m, rev
}

// TestRevisionFormatGolden: the 0.3 golden restores and serves every
// value with its mod revision and expiry; the expired key is invisible.
func TestRevisionFormatGolden(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(t.Context(), revisionGolden, dir, nil); err != nil {
		t.Fatalf("restore of %s: %v", revisionGolden, err)
	}
	ts := startServer(t, func(c *config.Config) { c.Storage.Engine = "lsm"; c.Server.DataDir = dir })
	want := goldenModel()
	revs, last := goldenRevisions()
	for c, keys := range want {
		got := rangeAll(t, ts, c, "", 1000)
		if len(got) != len(keys) {
			t.Errorf("collection %s: %d keys, want %d", c, len(got), len(keys))
		}
		for _, it := range got {
			if v, ok := keys[string(it.Key)]; !ok || !bytes.Equal(it.Value, v) || it.Revision != revs[c][string(it.Key)] {
				t.Errorf("collection %s: key %q at revision %d, want %d (present %v)", c, it.Key, it.Revision, revs[c][string(it.Key)], ok)
			}
		}
	}
	r := do(t, "GET", keyURL(ts, "ttl", []byte("later")), nil)
	exp := goldenClock.Add(315360000 * time.Second)
	if time.Now().After(exp) {
		if r.status != 404 {
			t.Fatalf("the key with a ten-year expiry, after it: %d", r.status)
		}
	} else if r.header.Get("Amaters-Expires-At") != exp.Format(time.RFC3339) || r.header.Get("ETag") != `"`+itoa(last+2)+`"` {
		t.Fatalf("the key with a ten-year expiry: %d %v", r.status, r.header)
	}
	if r := do(t, "GET", keyURL(ts, "ttl", []byte("soon")), nil); r.status != 404 {
		t.Fatalf("the expired key: %d %s", r.status, r.body)
	}
	// The next write takes the next revision: the revision was restored.
	if r := do(t, "PUT", keyURL(ts, "new", []byte("k")), []byte("v")); r.header.Get("ETag") != `"`+itoa(last+3)+`"` && r.header.Get("ETag") != `"`+itoa(last+4)+`"` {
		// last+4 when the expirer deleted "soon" first (its own revision).
		t.Fatalf("a write after the restore: %v", r.header)
	}
}

// TestUpgradedGoldenRevisions: 0.2 data (backup-v1.tar) reports revision
// 1 for every key, the revision of the upgrade, until rewritten.
func TestUpgradedGoldenRevisions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(t.Context(), backupGolden, dir, nil); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *config.Config) { c.Storage.Engine = "lsm"; c.Server.DataDir = dir })
	for c := range goldenModel() {
		p := getPage(t, ts, c, "limit=1000")
		for _, it := range p.Items {
			if it.Revision != 1 || p.Revision != 1 {
				t.Fatalf("collection %s: key %q at revision %d in a page at %d, want 1", c, it.Key, it.Revision, p.Revision)
			}
		}
	}
	first := getPage(t, ts, "users", "limit=1").Items[0].Key
	if r := do(t, "PUT", keyURL(ts, "users", first), []byte("v"), "If-Match", `"1"`); r.status != 204 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("a guarded write on upgraded data: %d %v", r.status, r.header)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestWriteRevisionGolden writes testdata/backup-v1-rev3.tar when it is
// missing; it does nothing unless AMATERS_WRITE_FORMAT_GOLDEN=1.
func TestWriteRevisionGolden(t *testing.T) {
	if os.Getenv("AMATERS_WRITE_FORMAT_GOLDEN") != "1" {
		t.Skip("writes " + revisionGolden + " only when AMATERS_WRITE_FORMAT_GOLDEN=1")
	}
	if _, err := os.Stat(revisionGolden); err == nil {
		t.Skipf("%s exists; a golden is never rewritten", revisionGolden)
	}
	ts := startServerWith(t, server.Options{Logger: discardLogger(), Now: func() time.Time { return goldenClock }},
		func(c *config.Config) { c.Storage.Engine = "lsm" })
	for _, w := range goldenHistory() {
		method, body := "PUT", w.value
		if w.delete {
			method, body = "DELETE", nil
		}
		if r := do(t, method, keyURL(ts, w.collection, w.key), body); r.status != 204 {
			t.Fatalf("%s %s/%q: %d %s", method, w.collection, w.key, r.status, r.body)
		}
	}
	do(t, "PUT", keyURL(ts, "ttl", []byte("soon"))+"?ttl=60", []byte("gone"))
	do(t, "PUT", keyURL(ts, "ttl", []byte("later"))+"?ttl=315360000", []byte("kept"))
	r := getBackup(t, ts)
	if r.status != 200 {
		t.Fatalf("backup: %d %s", r.status, r.body)
	}
	if err := os.WriteFile(revisionGolden, r.body, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s, %d bytes", revisionGolden, len(r.body))
}
