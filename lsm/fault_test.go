package lsm_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"amaters-server/lsm"
)

// TestFsyncFailureStopsWrites: after a failed WAL fsync the DB must refuse
// every later write (fsyncgate) while reads keep working, and reopening
// recovers every acknowledged write.
func TestFsyncFailureStopsWrites(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"injected", errInjected},
		{"disk full", enospc},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := lsm.NewCrashFS()
			efs := &errorFS{FS: base, err: tc.err}
			db := openMem(t, efs, lsm.Options{})
			if err := db.Put([]byte("a"), []byte("1")); err != nil {
				t.Fatal(err)
			}
			efs.mu.Lock()
			efs.failSyncs = true
			efs.mu.Unlock()
			err := db.Put([]byte("b"), []byte("2"))
			if err == nil || !errors.Is(err, lsm.ErrWritesStopped) || !errors.Is(err, tc.err) {
				t.Fatalf("Put with failing fsync = %v", err)
			}
			efs.mu.Lock()
			efs.failSyncs = false // the retry would "succeed": it must not be tried
			efs.mu.Unlock()
			if err := db.Put([]byte("c"), []byte("3")); !errors.Is(err, lsm.ErrWritesStopped) {
				t.Fatalf("Put after fsync failure = %v, want ErrWritesStopped", err)
			}
			if v, err := db.Get([]byte("a")); err != nil || string(v) != "1" {
				t.Fatalf("Get after failure = %q, %v", v, err)
			}
			if m := db.Metrics(); m.Err == nil {
				t.Error("Metrics.Err not set")
			}
			db.Close()
			db = openMem(t, base.CrashClone(0, 1), lsm.Options{})
			defer db.Close()
			if v, err := db.Get([]byte("a")); err != nil || string(v) != "1" {
				t.Fatalf("after reopen Get(a) = %q, %v", v, err)
			}
			if _, err := db.Get([]byte("c")); !errors.Is(err, lsm.ErrNotFound) {
				t.Fatalf("refused write c present after reopen: %v", err)
			}
		})
	}
}

// TestNthOpFailure fails each state-changing file operation of a workload
// in turn (SQLite's I/O error loop): the call that meets the failure must
// return an error or succeed, never panic, and after a power cut and a
// reopen on a healthy disk every acknowledged write is present.
func TestNthOpFailure(t *testing.T) {
	maxN := 400
	if testing.Short() {
		maxN = 120
	}
	opts := lsm.WithKnobs(lsm.Options{MemtableSize: 4 << 10}, 2, 4<<10, 8<<10, false)
	for n := 1; n <= maxN; n++ {
		for _, sticky := range []bool{false, true} {
			base := lsm.NewCrashFS()
			efs := &errorFS{FS: base, failAt: n, sticky: sticky, err: errInjected}
			o := opts
			o.FS = efs
			acked := map[string]string{}
			db, err := lsm.Open("/db", o)
			if err == nil {
				for i := range 120 {
					k, v := fmt.Sprintf("k%03d", i%70), fmt.Sprintf("v%d", i)
					if err := db.Put([]byte(k), []byte(v)); err == nil {
						acked[k] = v
					} else if !errors.Is(err, lsm.ErrWritesStopped) && !errors.Is(err, errInjected) {
						t.Fatalf("n=%d: Put error %v", n, err)
					}
					if i == 60 {
						db.Flush()
					}
				}
				db.Close()
			}
			o.FS = base.CrashClone(0, uint64(n))
			db, err = lsm.Open("/db", o)
			if err != nil {
				t.Fatalf("n=%d sticky=%v: reopen on healthy disk: %v", n, sticky, err)
			}
			for k, v := range acked {
				got, err := db.Get([]byte(k))
				if err != nil || string(got) != v {
					// The failed write may have been durable although
					// unacknowledged; only older values are wrong.
					if err != nil {
						t.Fatalf("n=%d sticky=%v: acked %s=%s lost: %v", n, sticky, k, v, err)
					}
					if !laterValue(string(got), v) {
						t.Fatalf("n=%d sticky=%v: %s = %s, acked %s", n, sticky, k, got, v)
					}
				}
			}
			db.Close()
		}
	}
}

// laterValue reports whether value "v<i>" got was written after want.
func laterValue(got, want string) bool {
	var g, w int
	fmt.Sscanf(got, "v%d", &g)
	fmt.Sscanf(want, "v%d", &w)
	return g > w
}

func TestENOSPCIsVisible(t *testing.T) {
	base := lsm.NewMemFS()
	efs := &errorFS{FS: base, err: syscall.ENOSPC}
	db := openMem(t, efs, lsm.Options{})
	defer db.Close()
	efs.mu.Lock()
	efs.failAt, efs.sticky = efs.n+1, true
	efs.mu.Unlock()
	err := db.Put([]byte("k"), []byte("v"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put on a full disk = %v, want ENOSPC in the chain", err)
	}
}

// TestManifestSyncFailureKeepsTables: when a flush's manifest edit is
// written but its fsync fails, the edit may still be read at the next
// Open, so the table it names must not be deleted. Writes stop; after a
// process kill the database opens with every acknowledged write.
func TestManifestSyncFailureKeepsTables(t *testing.T) {
	base := lsm.NewCrashFS()
	efs := &errorFS{FS: base, err: errInjected}
	db := openMem(t, efs, lsm.Options{Sync: lsm.SyncNone})
	acked := map[string]string{}
	for i := range 100 {
		k, v := fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i)
		if err := db.Put([]byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		acked[k] = v
	}
	efs.mu.Lock()
	efs.failSyncs, efs.syncFiles = true, isManifest
	efs.mu.Unlock()
	if err := db.Flush(); !errors.Is(err, errInjected) {
		t.Fatalf("Flush with a failing manifest fsync = %v", err)
	}
	if err := db.Put([]byte("after"), []byte("x")); !errors.Is(err, lsm.ErrWritesStopped) {
		t.Fatalf("Put after the failure = %v, want ErrWritesStopped", err)
	}
	killed := base.Clone() // what a process kill leaves: the unsynced edit included
	db.Close()
	db, err := lsm.Open("/db", lsm.Options{FS: killed})
	if err != nil {
		t.Fatalf("reopen after a failed manifest fsync: %v", err)
	}
	defer db.Close()
	for k, v := range acked {
		if got, err := db.Get([]byte(k)); err != nil || string(got) != v {
			t.Fatalf("%s = %q, %v; want %q", k, got, err, v)
		}
	}
}
