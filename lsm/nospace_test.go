package lsm_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"amaters-server/lsm"
)

// The disk fills up and is freed again (see nospace.go): writes fail with
// ENOSPC, never with ErrWritesStopped; reads go on; nothing acknowledged
// is lost; once space is back, writes succeed without a reopen; and the
// files hold no half-written record (a reopen after a power cut replays
// every log and manifest cleanly).

func isTable(name string) bool    { return strings.HasSuffix(name, ".sst.tmp") }
func isLog(name string) bool      { return strings.HasSuffix(name, ".log") }
func isManifest(name string) bool { return strings.Contains(name, "MANIFEST-") }

func TestDiskFullThenFreed(t *testing.T) {
	cases := []struct {
		name  string
		files func(string) bool // which files run out of space; nil = all
		sync  lsm.SyncMode
	}{
		{"everything/SyncAlways", nil, lsm.SyncAlways},
		{"everything/SyncNone", nil, lsm.SyncNone},
		{"log only", isLog, lsm.SyncAlways},
		{"tables only", isTable, lsm.SyncAlways},
		{"manifest only", isManifest, lsm.SyncAlways},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := lsm.NewCrashFS()
			efs := &errorFS{FS: base}
			clk := newManualClock()
			opts := lsm.WithKnobs(lsm.Options{FS: efs, MemtableSize: 4 << 10, Sync: tc.sync}, 2, 4<<10, 8<<10, false)
			opts = lsm.WithClock(opts, clk)
			db, err := lsm.Open("/db", opts)
			if err != nil {
				t.Fatal(err)
			}
			acked := map[string]string{}
			put := func(i int) error {
				k, v := fmt.Sprintf("k%04d", i%300), fmt.Sprintf("v%d", i)
				err := db.Put([]byte(k), []byte(v))
				if err == nil {
					acked[k] = v
				}
				return err
			}
			i := 0
			for ; i < 600; i++ {
				if err := put(i); err != nil {
					t.Fatal(err)
				}
			}

			efs.setFull(true, tc.files)
			failed := 0
			for n := 0; n < 600; n, i = n+1, i+1 {
				err := put(i)
				if err == nil {
					continue
				}
				failed++
				if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, lsm.ErrWritesStopped) {
					t.Fatalf("Put on a full disk = %v, want ENOSPC and not ErrWritesStopped", err)
				}
			}
			if failed == 0 {
				t.Fatal("no write failed on a full disk: the test does not exercise it")
			}
			if m := db.Metrics(); !errors.Is(m.Err, syscall.ENOSPC) {
				t.Errorf("Metrics.Err on a full disk = %v", m.Err)
			}
			for k, v := range acked {
				if got, err := db.Get([]byte(k)); err != nil || string(got) != v {
					t.Fatalf("read on a full disk: %s = %q, %v; want %q", k, got, err, v)
				}
			}

			// Space is freed. A flush or compaction waiting to retry
			// needs its pause (at most 2 s) to pass before writes that
			// depend on it succeed; none needs a reopen. Once the pause
			// has passed, a write that needs the retry starts it and
			// waits for it; only work that failed just before the space
			// came back can still be pausing, and one more pause ends
			// that.
			efs.setFull(false, nil)
			for try := 0; ; try++ {
				clk.Advance(2 * time.Second)
				err := put(i)
				i++
				if err == nil {
					break
				}
				if errors.Is(err, lsm.ErrWritesStopped) || try == 3 {
					t.Fatalf("Put after space was freed and the retry pause passed = %v", err)
				}
			}
			for n := 0; n < 600; n, i = n+1, i+1 {
				if err := put(i); err != nil {
					t.Fatalf("Put after space was freed = %v", err)
				}
			}
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := db.CompactAll(); err != nil {
				t.Fatal(err)
			}
			if m := db.Metrics(); m.Err != nil {
				t.Errorf("Metrics.Err after recovery = %v", m.Err)
			}
			for n := 0; n < 100; n, i = n+1, i+1 {
				if err := put(i); err != nil {
					t.Fatal(err)
				}
			}

			// A power cut (SyncAlways) or a process kill (SyncNone) now:
			// every acknowledged write is there and no file holds a torn
			// record in the middle.
			crashed := base.Clone()
			if tc.sync == lsm.SyncAlways {
				crashed = base.CrashClone(0, 1)
			}
			db.Close()
			db, err = lsm.Open("/db", lsm.Options{FS: crashed})
			if err != nil {
				t.Fatalf("reopen after a full disk: %v", err)
			}
			defer db.Close()
			if n := db.Metrics().TornWALTails; n != 0 {
				t.Errorf("%d torn log tails at reopen: a failed write was not taken back", n)
			}
			for k, v := range acked {
				if got, err := db.Get([]byte(k)); err != nil || string(got) != v {
					t.Fatalf("after reopen: %s = %q, %v; want %q", k, got, err, v)
				}
			}
		})
	}
}

// TestDiskFullDoesNotHang: with the tables' disk full, a writer that needs
// a flush gets the error quickly instead of stalling until space returns.
func TestDiskFullDoesNotHang(t *testing.T) {
	efs := &errorFS{FS: lsm.NewCrashFS()}
	db := openMem(t, efs, lsm.Options{MemtableSize: 4 << 10})
	defer db.Close()
	efs.setFull(true, isTable)
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := db.Put(fmt.Appendf(nil, "k%05d", i), make([]byte, 100)); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Put = %v, want ENOSPC", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writes stalled on a full disk instead of failing")
	}
	if err := db.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Flush on a full disk = %v, want ENOSPC", err)
	}
	efs.setFull(false, nil)
}

// TestCloseOnFullDisk: Close cannot flush the memtable when there is no
// room for its table, but that loses nothing (the log holds it), so Close
// succeeds; the next Open on a disk with room replays it.
func TestCloseOnFullDisk(t *testing.T) {
	base := lsm.NewCrashFS()
	efs := &errorFS{FS: base}
	db, err := lsm.Open("/db", lsm.Options{FS: efs, Sync: lsm.SyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := db.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	efs.setFull(true, isTable)
	if err := db.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Flush with no room for a table = %v, want ENOSPC", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close on a full disk = %v, want nil (the log keeps the writes)", err)
	}
	// Opening needs room for the replayed table: refused while full.
	if _, err := lsm.Open("/db", lsm.Options{FS: efs}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Open on a full disk = %v, want ENOSPC", err)
	}
	efs.setFull(false, nil)
	db = openMem(t, efs, lsm.Options{})
	defer db.Close()
	for i := range 100 {
		if v, err := db.Get(fmt.Appendf(nil, "k%03d", i)); err != nil || string(v) != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%03d after a close on a full disk: %q %v", i, v, err)
		}
	}
}

// manualClock is a clock that moves only when a test advances it.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []manualTimer
}

type manualTimer struct {
	at time.Time
	f  func()
}

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1e9, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, manualTimer{c.now.Add(d), f})
}

// Advance moves the clock by d and runs the timers that came due, in the
// caller's goroutine.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
		} else {
			due = append(due, t.f)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}
