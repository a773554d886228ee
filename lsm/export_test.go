package lsm

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"amaters-server/lsm/internal/record"
)

// Test-only access to internals for the black-box tests in lsm_test.

// CrashFS is the in-memory FS that can simulate a power cut.
type CrashFS = memFS

// NewCrashFS returns an empty crash-simulating FS.
func NewCrashFS() *CrashFS { return newMemFS() }

// CrashClone returns the state a power cut would leave (see crashClone).
func (m *memFS) CrashClone(keepUnsyncedPct int, seed uint64) *CrashFS {
	return m.crashClone(keepUnsyncedPct, rand.New(rand.NewPCG(seed, seed^0x5bd1e995)))
}

// Clone returns the state a process kill would leave.
func (m *memFS) Clone() *CrashFS { return m.clone() }

// SetTrace turns the op trace on.
func (m *memFS) SetTrace(on bool) {
	m.mu.Lock()
	m.trace = on
	m.mu.Unlock()
}

// WithKnobs sets the unexported tuning fields of Options.
func WithKnobs(o Options, l0Trigger int, targetFileSize, baseLevelSize int64, noAutoCompaction bool) Options {
	o.l0CompactionTrigger = l0Trigger
	o.targetFileSize = targetFileSize
	o.baseLevelSize = baseLevelSize
	o.disableAutoCompaction = noAutoCompaction
	return o
}

// CompactAll compacts until no level wants compaction, for tests.
func (d *DB) CompactAll() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.bgErr != nil {
			return d.bgErr
		}
		if len(d.compacting) == 0 {
			c := d.pickLocked()
			if c == nil {
				return nil
			}
			d.startLocked(c)
			d.mu.Unlock()
			d.runCompaction(c)
			d.mu.Lock()
			continue
		}
		d.cond.Wait()
	}
}

// CheckInvariants verifies the current version's ordering.
func (d *DB) CheckInvariants() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current.check()
}

// MutatingOps returns the traced operations that change the file system.
func (m *memFS) MutatingOps() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, op := range m.ops {
		if op.kind != "mark" {
			out = append(out, op.kind+" "+op.path)
		}
	}
	return out
}

// TornWrite returns a log's contents with the write in progress at a
// crash appended: a record (a batch of one large value) cut at the first
// page boundary after the log's end, where a killed write(2) stops.
func TornWrite(log []byte) []byte {
	var b Batch
	b.Put([]byte("torn"), make([]byte, 3*crashGranule))
	b.setSeq(1 << 40)
	var buf bytes.Buffer
	w := record.NewWriter(&buf, int64(len(log)))
	w.WriteRecord(b.data)
	w.Flush()
	out := append(slices.Clone(log), buf.Bytes()...)
	return out[:(len(log)/crashGranule+1)*crashGranule]
}

// Clock is the clock of the disk-full retries (Options.clock).
type Clock = clock

// WithClock sets the clock of the disk-full retries.
func WithClock(o Options, c Clock) Options {
	o.clock = c
	return o
}

// WithScrubWait sets the scrubber's wait (Options.scrubWait).
func WithScrubWait(o Options, wait func(ctx context.Context, d time.Duration) error) Options {
	o.scrubWait = wait
	return o
}
