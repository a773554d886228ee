package lsm

import (
	"fmt"
	"strings"
	"testing"
)

// TestMemtableReservation checks the room accounting that lets a leader
// check for room while an earlier group's apply is pending: a
// reservation covers the apply, and once the apply ends the reserved
// room equals the room used.
func TestMemtableReservation(t *testing.T) {
	m := newMemtable(64<<10, 1)
	if !m.unused() {
		t.Fatal("new memtable is not unused")
	}
	n := 0
	for {
		var b Batch
		for j := range 1 + n%4 {
			b.Put(fmt.Appendf(nil, "key%06d.%d", n, j), make([]byte, n%50))
		}
		b.setSeq(uint64(n*4 + 1))
		if !m.fits(b.size(), b.Len()) {
			break
		}
		res := m.reserve(b.size(), b.Len())
		pendingData, pendingWords := m.resData.Load(), m.resWords.Load()
		m.beginApply(&res)
		if err := m.apply(b.data); err != nil {
			t.Fatal(err)
		}
		if int64(m.sl.dlen) > pendingData || int64(m.sl.nlen-nlen0) > pendingWords {
			t.Fatalf("batch %d used %d data bytes and %d words, more than the %d and %d reserved",
				n, m.sl.dlen, m.sl.nlen-nlen0, pendingData, pendingWords)
		}
		m.endApply(&res)
		if got, want := m.resData.Load(), int64(m.sl.dlen); got != want {
			t.Fatalf("after batch %d: %d data bytes reserved, %d used", n, got, want)
		}
		if got, want := m.resWords.Load(), int64(m.sl.nlen-nlen0); got != want {
			t.Fatalf("after batch %d: %d words reserved, %d used", n, got, want)
		}
		n++
	}
	if m.unused() || n < 100 {
		t.Fatalf("memtable full after %d batches", n)
	}
}

// TestSpareMemtable checks that the flush goroutine's spare skiplist is
// handed to the next memtable switch, and is empty and full-sized.
func TestSpareMemtable(t *testing.T) {
	d, err := Open("/db", Options{FS: newMemFS(), MemtableSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.makeSpare()
	d.mu.Lock()
	spare := d.spare
	d.mu.Unlock()
	if spare == nil {
		t.Fatal("makeSpare made no spare with no immutable memtable waiting")
	}
	if got := d.takeSpare(); got != spare {
		t.Fatal("takeSpare did not return the spare")
	}
	d.mu.Lock()
	left := d.spare
	d.mu.Unlock()
	if left != nil {
		t.Fatal("takeSpare left the spare in place")
	}
	if spare.count.Load() != 0 || len(spare.data) != 16<<10 {
		t.Fatalf("spare holds %d entries in %d bytes", spare.count.Load(), len(spare.data))
	}
	if got := d.takeSpare(); got == nil || got == spare {
		t.Fatal("takeSpare without a spare did not make a new skiplist")
	}
}

// A memtable switch gives the new memtable the prefix every key of the
// old one shared, so that abbreviations skip it (skiplist.go).
func TestSwitchSetsSharedPrefix(t *testing.T) {
	fs := newMemFS()
	d, err := Open("/db", Options{FS: fs, MemtableSize: 64 << 10, Sync: SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range 5000 {
		if err := d.Put(fmt.Appendf(nil, "\x05benchkey-%08d", i%3000), make([]byte, 40)); err != nil {
			t.Fatal(err)
		}
	}
	if d.Metrics().Flushes == 0 {
		t.Fatal("no memtable switched")
	}
	d.mu.Lock()
	shared := string(d.mem.sl.shared)
	d.mu.Unlock()
	if !strings.HasPrefix(shared, "\x05benchkey-0000") {
		t.Errorf("shared prefix after a switch = %q, want it to start with the keys' common part", shared)
	}
	for i := range 3000 {
		if _, err := d.Get(fmt.Appendf(nil, "\x05benchkey-%08d", i)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}
