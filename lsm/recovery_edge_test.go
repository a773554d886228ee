package lsm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// failCreateFS fails Create for names containing substr, once armed.
type failCreateFS struct {
	FS
	substr string
}

func (f failCreateFS) Create(name string) (File, error) {
	if strings.Contains(filepath.Base(name), f.substr) {
		return nil, fmt.Errorf("injected create failure for %s", name)
	}
	return f.FS.Create(name)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// tearLogs appends to the only non-empty log in dir the write a crash
// interrupted (TornWrite).
func tearLogs(t *testing.T, fs *memFS, dir string) string {
	t.Helper()
	names, _ := fs.List(dir)
	for _, name := range names {
		if typ, _ := parseName(name); typ != typeWAL {
			continue
		}
		p := filepath.Join(dir, name)
		data, err := readFile(fs, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			continue
		}
		f, err := fs.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(TornWrite(data))
		f.Sync()
		f.Close()
		return name
	}
	t.Fatal("no log")
	return ""
}

// TestTornTailSurvivesFailedRecovery: a process killed in the middle of a
// log write leaves a torn tail in the newest log. When the Open that
// recovers it fails (or the process dies again) after recover() created its
// new, empty log but before the new manifest is installed, the torn log is
// no longer the last log, but still the last one with records: a later
// Open cuts its tail as before. (It once refused it as corruption, for
// good: a crash during recovery made the database unopenable.)
func TestTornTailSurvivesFailedRecovery(t *testing.T) {
	fs := newMemFS()
	opts := Options{FS: fs, Logger: quietLogger()}
	db, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := db.Put(fmt.Appendf(nil, "k%02d", i), make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	killed := fs.clone() // process kill
	db.Close()
	tearLogs(t, killed, "/db") // a write was in progress

	// First recovery fails after creating its new log.
	bad := opts
	bad.FS = failCreateFS{FS: killed, substr: "MANIFEST-"}
	if _, err := Open("/db", bad); err == nil {
		t.Fatal("Open with failing manifest create succeeded")
	}
	// A later Open must still succeed, with the 10 acknowledged writes.
	opts.FS = killed
	db, err = Open("/db", opts)
	if err != nil {
		t.Fatalf("reopen after failed recovery: %v", err)
	}
	defer db.Close()
	if n := db.stats.tornTails.Load(); n != 1 {
		t.Errorf("%d torn tails cut, want 1", n)
	}
	for i := range 10 {
		if _, err := db.Get(fmt.Appendf(nil, "k%02d", i)); err != nil {
			t.Fatalf("k%02d: %v", i, err)
		}
	}
}

// TestSyncAlwaysDamageNotCutAsTornCopy: tornCopy is for logs written
// through a mapping (SyncNone, SyncInterval), whose unused end is a block
// or more of zeroes. A log written with write(2) also ends in zeroes when
// its last value does; damage to an acknowledged, fsynced record near its
// end is corruption, reported, not a torn tail to cut (which once lost the
// acknowledged writes after it silently).
func TestSyncAlwaysDamageNotCutAsTornCopy(t *testing.T) {
	fs := newMemFS()
	opts := Options{FS: fs, Logger: quietLogger()} // SyncAlways
	db, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1000)
	for i := range 10 {
		if err := db.Put(fmt.Appendf(nil, "k%02d", i), zeros); err != nil {
			t.Fatal(err)
		}
	}
	killed := fs.clone() // every Put above was fsynced and acknowledged
	db.Close()
	names, _ := killed.List("/db")
	var logPath string
	for _, n := range names {
		if typ, _ := parseName(n); typ == typeWAL {
			if st, _ := killed.Stat(filepath.Join("/db", n)); st.Size() > 0 {
				logPath = filepath.Join("/db", n)
			}
		}
	}
	data, _ := readFile(killed, logPath)
	// Damage one byte of the key of the 6th record (k05): bit rot in the
	// middle of the log, not a torn write.
	i := strings.Index(string(data), "k05")
	if i < 0 {
		t.Fatal("record not found")
	}
	data[i+2] ^= 0x40
	f, _ := killed.Create(logPath)
	f.Write(data)
	f.Sync()
	f.Close()

	opts.FS = killed
	db, err = Open("/db", opts)
	if err != nil {
		if errors.Is(err, ErrCorruption) {
			return // reported, as the package promises
		}
		t.Fatal(err)
	}
	defer db.Close()
	var lost []string
	for i := range 10 {
		if _, err := db.Get(fmt.Appendf(nil, "k%02d", i)); err != nil {
			lost = append(lost, fmt.Sprintf("k%02d", i))
		}
	}
	t.Fatalf("Open succeeded silently; acknowledged SyncAlways writes lost: %v (torn tails cut: %d)", lost, db.stats.tornTails.Load())
}

// TestConcurrentCloseIdempotent: two Close calls at once both return nil
// (they once both ran the teardown, closing the manifest and the lock
// twice).
func TestConcurrentCloseIdempotent(t *testing.T) {
	for round := range 50 {
		fs := newMemFS()
		db, err := Open("/db", Options{FS: fs, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		db.Put([]byte("k"), []byte("v"))
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- db.Close() }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: concurrent Close: %v", round, err)
			}
		}
	}
}

// cutAtNewLogFS takes a power-cut clone of its memFS right after the
// first record is written to the second log: the moment in
// switchMemtable (memtable_rotate.go) and the commit after it when the
// new log, created ahead by the log goroutine, starts to be used. Create
// runs on the log goroutine, so the state is under mu.
type cutAtNewLogFS struct {
	*memFS
	mu   *sync.Mutex
	logs *int
	cut  **memFS
}

func (f cutAtNewLogFS) Create(name string) (File, error) {
	file, err := f.memFS.Create(name)
	if typ, _ := parseName(filepath.Base(name)); err == nil && typ == typeWAL {
		f.mu.Lock()
		defer f.mu.Unlock()
		if *f.logs++; *f.logs == 2 {
			return cutOnWrite{File: file, f: f}, nil
		}
	}
	return file, err
}

type cutOnWrite struct {
	File
	f cutAtNewLogFS
}

func (w cutOnWrite) Write(p []byte) (int, error) {
	n, err := w.File.Write(p)
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	if *w.f.cut == nil {
		// Keep a random part of each file's unsynced bytes, as a disk
		// that wrote some of its cache does.
		*w.f.cut = w.f.memFS.CrashClone(100, 3)
	}
	return n, err
}

func TestPowerCutAtSwitchOpens(t *testing.T) {
	mem := newMemFS()
	var mu sync.Mutex
	var logs int
	var cut *memFS
	opts := Options{FS: cutAtNewLogFS{memFS: mem, mu: &mu, logs: &logs, cut: &cut},
		Logger: quietLogger(), Sync: SyncNone, MemtableSize: 64 << 10}
	db, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 300)
	for i := range val {
		val[i] = 'x'
	}
	done := func() bool { mu.Lock(); defer mu.Unlock(); return cut != nil }
	for i := 0; !done() && i < 10000; i++ {
		if err := db.Put(fmt.Appendf(nil, "k%05d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if cut == nil {
		t.Fatal("no memtable switch")
	}
	db, err = Open("/db", Options{FS: cut, Logger: quietLogger(), Sync: SyncNone, MemtableSize: 64 << 10})
	if err != nil {
		t.Fatalf("open after power cut at a memtable switch: %v", err)
	}
	db.Close()
}
