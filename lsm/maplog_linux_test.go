package lsm_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"amaters-server/lsm"
)

// mappedDir writes n keys with SyncNone (the log is appended through a
// mapping on Linux) and returns a copy of the directory as a killed
// process would leave it, with the path of its log.
func mappedDir(t *testing.T, n int) (dir, log string) {
	t.Helper()
	src := t.TempDir()
	db, err := lsm.Open(src, lsm.Options{Sync: lsm.SyncNone, MemtableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range n {
		if err := db.Put(fmt.Appendf(nil, "k%05d", i), fmt.Appendf(nil, "value-%05d-%090d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	dir = t.TempDir()
	copyDir(t, src, dir)
	// The log with records; the next log may be prepared already, all
	// zeroes.
	logs := logsWithData(t, dir)
	if len(logs) != 1 {
		t.Fatalf("logs %v", logs)
	}
	b, _ := os.ReadFile(logs[0])
	if len(b) < 8<<20 || b[len(b)-1] != 0 {
		t.Fatalf("log is %d bytes: not the preallocated, zero-tailed mapped log", len(b))
	}
	return dir, logs[0]
}

func checkKeys(t *testing.T, db *lsm.DB, n int) {
	t.Helper()
	for i := range n {
		if _, err := db.Get(fmt.Appendf(nil, "k%05d", i)); err != nil {
			t.Fatalf("k%05d: %v", i, err)
		}
	}
}

// A mapped log's zero tail is a clean end: all writes replay, nothing is
// reported torn.
func TestMappedLogReplays(t *testing.T) {
	dir, _ := mappedDir(t, 1000)
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkKeys(t, db, 1000)
	if n := db.Metrics().TornWALTails; n != 0 {
		t.Errorf("TornWALTails = %d on a clean mapped log", n)
	}
}

// A process killed in the middle of a copy leaves the last record partly
// copied, then zeroes: cut as a torn tail, with everything before it kept.
func TestMappedLogTornCopy(t *testing.T) {
	dir, log := mappedDir(t, 1000)
	b, _ := os.ReadFile(log)
	end := len(b)
	for b[end-1] == 0 {
		end--
	}
	clear(b[end-40 : end]) // the last record lost its last 40 bytes
	if err := os.WriteFile(log, b, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		t.Fatalf("Open after a torn copy: %v", err)
	}
	defer db.Close()
	checkKeys(t, db, 999)
	if _, err := db.Get([]byte("k00999")); !errors.Is(err, lsm.ErrNotFound) {
		t.Errorf("the torn last write: %v", err)
	}
	if n := db.Metrics().TornWALTails; n != 1 {
		t.Errorf("TornWALTails = %d, want 1", n)
	}
}

// Damage away from the tail of a mapped log is damage, not a torn copy:
// Open refuses it, naming the log.
func TestMappedLogDamageRefused(t *testing.T) {
	dir, log := mappedDir(t, 1000) // about 120 KiB of log, more than the torn window
	flip(t, log, 100)
	_, err := lsm.Open(dir, lsm.Options{})
	var ce *lsm.CorruptionError
	if !errors.As(err, &ce) || ce.File != log {
		t.Fatalf("Open of a damaged mapped log = %v, want a CorruptionError naming %s", err, log)
	}
}

// An older log with a zero tail (a crash after the next log was created,
// before the older one was cut to size at close) replays cleanly.
func TestMappedOlderLogZeroTail(t *testing.T) {
	dir, log := mappedDir(t, 1000)
	var num int
	fmt.Sscanf(filepath.Base(log), "%d.log", &num)
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d.log", num+1)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		t.Fatalf("Open with a zero-tailed older log: %v", err)
	}
	defer db.Close()
	checkKeys(t, db, 1000)
}

// A mapped log (SyncNone) with one bit flipped
// 20 000 or 35 000 bytes before the end of its data, intact records
// after it, must be refused, not cut as a torn copy.
func TestMappedLogBitFlipRefused(t *testing.T) {
	for _, back := range []int{20000, 35000} {
		t.Run(fmt.Sprintf("flip %d before the end", back), func(t *testing.T) {
			dir, log := mappedDir(t, 1000)
			want := map[string]string{}
			for i := range 1000 {
				want[fmt.Sprintf("k%05d", i)] = fmt.Sprintf("value-%05d-%090d", i, i)
			}
			b, _ := os.ReadFile(log)
			end := len(b)
			for b[end-1] == 0 {
				end--
			}
			b[end-back] ^= 0x10
			os.WriteFile(log, b, 0o600)
			wantRefusal(t, intactOrRefused(t, dir, lsm.Options{}, want), filepath.Base(log))
		})
	}
}
