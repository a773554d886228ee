package lsm_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"amaters-server/lsm"
)

const (
	killDirEnv    = "LSM_KILL_CHILD_DIR"
	killCycleEnv  = "LSM_KILL_CHILD_CYCLE"
	killSyncEnv   = "LSM_KILL_CHILD_SYNC"
	killWriters   = 4
	killKeysPer   = 50
	killValueSize = 120
)

// TestKillChild is the writer process of TestKill; it does nothing unless
// started by it.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("run by TestKill")
	}
	opts := lsm.Options{MemtableSize: 32 << 10}
	if os.Getenv(killSyncEnv) == "none" {
		opts.Sync = lsm.SyncNone
	}
	db, err := lsm.Open(dir, opts)
	if err != nil {
		fmt.Printf("open-error %v\n", err)
		os.Exit(3)
	}
	var cycle uint64
	fmt.Sscan(os.Getenv(killCycleEnv), &cycle)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range killWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(w)))
			// Versions are unique across cycles: cycle in the high half.
			for ver := cycle<<32 + 1; ; ver++ {
				k := w*killKeysPer + rng.IntN(killKeysPer)
				if err := db.Put(killKey(k), killValue(ver)); err != nil {
					fmt.Printf("put-error %v\n", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Printf("ack %d %d %d\n", w, k, ver)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func killKey(k int) []byte { return fmt.Appendf(nil, "key%04d", k) }

func killValue(ver uint64) []byte {
	v := make([]byte, killValueSize)
	binary.LittleEndian.PutUint64(v, ver)
	for i := 8; i < len(v); i++ {
		v[i] = byte(ver*31) + byte(i)
	}
	return v
}

// TestKill starts a child process that writes from four goroutines and
// prints every acknowledged write, kills it with SIGKILL after a random
// number of acknowledgements, and checks that every acknowledged write
// survived and nothing is torn. The cycle repeats on the same directory,
// so recovery of a recovered database is tested too. With SyncAlways the
// log is written with write(2) and fsync; with SyncNone it is appended
// through a shared mapping on Linux (maplog_linux.go), which must lose
// nothing acknowledged to a process kill either.
func TestKill(t *testing.T) {
	if os.Getenv(killDirEnv) != "" {
		t.Skip("child")
	}
	for _, mode := range []string{"always", "none"} {
		t.Run(mode, func(t *testing.T) { testKill(t, mode) })
	}
}

func testKill(t *testing.T, mode string) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip("no executable:", err)
	}
	cycles := 6
	if mode == "none" {
		cycles = 20 // fast: no fsync
	}
	if testing.Short() {
		cycles = 2
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	ackedKey := map[int]uint64{}    // last acknowledged version per key
	ackedWriter := map[int]uint64{} // last acknowledged version per writer, this cycle
	for cycle := range cycles {
		cmd := exec.Command(exe, "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killDirEnv+"="+dir, fmt.Sprintf("%s=%d", killCycleEnv, cycle), killSyncEnv+"="+mode)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		clear(ackedWriter)
		target := 50 + rng.IntN(400)
		sc := bufio.NewScanner(out)
		n := 0
		killed := false
		for sc.Scan() {
			var w, k int
			var ver uint64
			if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d", &w, &k, &ver); err != nil {
				if killed {
					continue // a line cut by the kill
				}
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("cycle %d: child said %q", cycle, sc.Text())
			}
			// Acknowledgements still in the pipe after the kill count
			// too: those writes returned before the process died.
			ackedKey[k] = ver
			ackedWriter[w] = ver
			if n++; n == target {
				cmd.Process.Kill()
				killed = true
			}
		}
		cmd.Wait()
		if n < target {
			t.Fatalf("cycle %d: child exited after %d acks", cycle, n)
		}
		if mode == "none" && runtime.GOOS == "linux" {
			// The log was appended through its mapping: its file is
			// the reserved size, with a zero tail.
			logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			mapped := false
			for _, l := range logs {
				if st, err := os.Stat(l); err == nil && st.Size() >= 1<<20 {
					mapped = true
				}
			}
			if !mapped {
				t.Fatalf("cycle %d: no mapped log among %v", cycle, logs)
			}
		}
		// Keys written in earlier cycles were checked then.
		verifyKilled(t, dir, cycle, ackedKey, ackedWriter)
		clear(ackedKey)
	}
}

func verifyKilled(t *testing.T, dir string, cycle int, ackedKey map[int]uint64, ackedWriter map[int]uint64) {
	t.Helper()
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		t.Fatalf("cycle %d: reopen after kill: %v", cycle, err)
	}
	defer db.Close()
	for k, want := range ackedKey {
		v, err := db.Get(killKey(k))
		if errors.Is(err, lsm.ErrNotFound) {
			t.Fatalf("cycle %d: key %d lost (acked version %d)", cycle, k, want)
		}
		if err != nil {
			t.Fatalf("cycle %d: Get: %v", cycle, err)
		}
		if len(v) != killValueSize {
			t.Fatalf("cycle %d: key %d torn (%d bytes)", cycle, k, len(v))
		}
		ver := binary.LittleEndian.Uint64(v)
		if string(v) != string(killValue(ver)) {
			t.Fatalf("cycle %d: key %d value torn", cycle, k)
		}
		// The value is the last acknowledged one, or the write its writer
		// had in flight at the kill (acknowledged or not).
		w := k / killKeysPer
		if ver != want && ver != ackedWriter[w]+1 {
			t.Fatalf("cycle %d: key %d at version %d, acked %d (writer %d at %d)", cycle, k, ver, want, w, ackedWriter[w])
		}
	}
}
