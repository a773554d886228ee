package lsm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"amaters-server/lsm"
)

// stepClock is the scrubber's wait, driven by the test: every wait is
// sent on waits and returns when the test releases it.
type stepClock struct {
	waits   chan time.Duration
	release chan struct{}
}

func newStepClock() *stepClock {
	return &stepClock{waits: make(chan time.Duration), release: make(chan struct{})}
}

func (c *stepClock) wait(ctx context.Context, d time.Duration) error {
	select {
	case c.waits <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pass lets the scrubber out of its pause between passes and through one
// pass, and returns the waits that paced it. The scrubber is in a pause
// (a wait of interval) when pass is called and when it returns.
func (c *stepClock) pass(t *testing.T, interval time.Duration) []time.Duration {
	t.Helper()
	c.release <- struct{}{}
	var paced []time.Duration
	for {
		d := <-c.waits
		if d == interval {
			return paced
		}
		paced = append(paced, d)
		c.release <- struct{}{}
	}
}

func TestScrub(t *testing.T) {
	const interval, rate = time.Hour, 1 << 20
	clock := newStepClock()
	dir := t.TempDir()
	opts := lsm.WithScrubWait(lsm.Options{MemtableSize: 16 << 10, ScrubInterval: interval, ScrubRate: rate}, clock.wait)
	db, err := lsm.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if d := <-clock.waits; d != interval {
		t.Fatalf("the scrubber first waited %v, want the interval", d)
	}
	want := map[string]string{}
	b := new(lsm.Batch)
	for i := range 3000 {
		k, v := fmt.Sprintf("k%05d", i), fmt.Sprintf("value %d of the scrub test", i)
		b.Put([]byte(k), []byte(v))
		want[k] = v
		if b.Len() == 100 {
			if err := db.Apply(b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}

	// A clean pass reads every table, at most at the rate.
	paced := clock.pass(t, interval)
	m := db.Metrics()
	if m.ScrubPasses != 1 || m.Corruptions != 0 || db.Damage() != nil {
		t.Fatalf("after a clean pass: %d passes, %d corruptions, damage %v", m.ScrubPasses, m.Corruptions, db.Damage())
	}
	if m.ScrubbedBytes < uint64(m.TableBytes) {
		t.Fatalf("scrubbed %d bytes of %d", m.ScrubbedBytes, m.TableBytes)
	}
	var waited time.Duration
	for _, d := range paced {
		waited += d
	}
	if min := time.Duration(float64(m.ScrubbedBytes) / rate * float64(time.Second)); waited < min-time.Millisecond {
		t.Fatalf("paced %v for %d bytes: faster than %d bytes/s", waited, m.ScrubbedBytes, rate)
	}

	// Damage a data block of a table in place, under the open database.
	tables := filesWithSuffix(t, dir, ".sst")
	table := tables[len(tables)/2]
	data, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0x40
	if err := os.WriteFile(table, data, 0o600); err != nil {
		t.Fatal(err)
	}
	clock.pass(t, interval)
	m = db.Metrics()
	var ce *lsm.CorruptionError
	if err := db.Damage(); !errors.As(err, &ce) || ce.File != table || m.Corruptions != 1 || m.ScrubPasses != 2 {
		t.Fatalf("after a pass over damage: %d passes, %d corruptions, damage %v; want %s", m.ScrubPasses, m.Corruptions, db.Damage(), table)
	}
	clock.pass(t, interval)
	if m := db.Metrics(); m.Corruptions != 2 {
		t.Fatalf("a second pass over the damage counted %d corruptions in all, want 2", m.Corruptions)
	}
	// Close stops the scrubber in its pause.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A read that meets damage is counted, and the file reported, as a
// scrub's find is.
func TestReadDamageCounted(t *testing.T) {
	dir, want := buildDir(t)
	table := filesWithSuffix(t, dir, ".sst")[0]
	flip(t, table, 6000) // a data block Open does not read
	db, err := lsm.Open(dir, lsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Damage() != nil || db.Metrics().Corruptions != 0 {
		t.Fatal("damage reported before any read")
	}
	failed := 0
	for k := range want {
		if _, err := db.Get([]byte(k)); errors.Is(err, lsm.ErrCorruption) {
			failed++
		}
	}
	var ce *lsm.CorruptionError
	if err := db.Damage(); failed == 0 || !errors.As(err, &ce) || filepath.Base(ce.File) != filepath.Base(table) {
		t.Fatalf("%d reads failed; Damage() = %v, want %s", failed, err, table)
	}
	if n := db.Metrics().Corruptions; n != uint64(failed) {
		t.Fatalf("Corruptions = %d, want %d (one per failed read)", n, failed)
	}
}
