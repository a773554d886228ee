package logrot_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"amaters-server/logrot"
)

// fakeClock is a settable clock, safe for concurrent use (the Writer reads
// it from writers and from its background goroutine).
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// base is the time used by most tests; its backup name is
// server-2026-11-26T18-04-05.123.log.
func base() time.Time { return time.Date(2026, 11, 26, 18, 4, 5, 123_456_789, time.UTC) }

// open creates a Writer and closes it at the end of the test.
func open(t *testing.T, path string, opts logrot.Options) *logrot.Writer {
	t.Helper()
	w, err := logrot.New(path, opts)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

func mustWrite(t *testing.T, w io.Writer, s string) {
	t.Helper()
	n, err := io.WriteString(w, s)
	if err != nil || n != len(s) {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

// names returns the sorted names in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// contents returns the content of every file in dir by name, gunzipping
// .gz files.
func contents(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, name := range names(t, dir) {
		out[name] = readLog(t, filepath.Join(dir, name))
	}
	return out
}

// readLog reads a log file, gunzipping it if its name ends in .gz.
func readLog(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Ext(path) != ".gz" {
		return string(data)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(plain)
}

// gz returns s compressed.
func gz(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// loadZone loads a tz database zone, skipping the test outside CI when the
// database is missing.
func loadZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("load zone %s: %v", name, err)
		}
		t.Skipf("no tz database: %v", err)
	}
	return loc
}

func sortStrings(s []string) { slices.Sort(s) }
