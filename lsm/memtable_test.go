package lsm

import (
	"bytes"
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

// TestMemtableMemory checks that a memtable's arenas grow with what it
// holds: an empty memtable allocates at most a chunk of each arena, a
// full one about its contents, never its size twice; and that entries of
// every size, among them ones larger than a chunk, read back intact.
func TestMemtableMemory(t *testing.T) {
	const size = 8 << 20
	m := newMemtable(size, 1)
	if a := m.sl.alloc.Load(); a > maxDataChunk+4<<maxNodeShift {
		t.Fatalf("empty %d-byte memtable allocated %d bytes", size, a)
	}
	want := map[string]int{}
	for n := 0; ; n++ {
		vlen := 100 + n%57
		if n%500 == 7 {
			vlen = maxDataChunk + n // a value larger than a data chunk
		}
		var b Batch
		k := fmt.Appendf(nil, "key%08d", n)
		b.Put(k, bytes.Repeat([]byte{byte(n)}, vlen))
		b.setSeq(uint64(n + 1))
		if !m.fits(b.size(), b.Len()) {
			break
		}
		res := m.reserve(b.size(), b.Len())
		m.beginApply(&res)
		if err := m.apply(b.data); err != nil {
			t.Fatal(err)
		}
		m.endApply(&res)
		want[string(k)] = vlen
	}
	used, alloc := m.size(), m.sl.alloc.Load()
	if used < size/2 {
		t.Fatalf("full memtable holds only %d of %d bytes", used, size)
	}
	// Chunk-end waste is under a node per node chunk and under an entry
	// per data chunk; the last chunk of each may be empty.
	if alloc > used+used/8+2*maxDataChunk {
		t.Errorf("memtable holding %d bytes allocated %d", used, alloc)
	}
	for k, vlen := range want {
		v, kind, found := m.get([]byte(k), maxSeq)
		n := 0
		fmt.Sscanf(k, "key%08d", &n)
		if !found || kind != kindSet || !bytes.Equal(v, bytes.Repeat([]byte{byte(n)}, vlen)) {
			t.Fatalf("%s: found %v, %d bytes, want %d bytes of %d", k, found, len(v), vlen, byte(n))
		}
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

// TestSwitchUsesPreparedLog: a memtable switch takes the log the log
// goroutine prepared instead of creating one on the write path, and
// Close removes a prepared log that no switch used.
func TestSwitchUsesPreparedLog(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := newMemFS()
			d, err := Open("/db", Options{FS: fs, MemtableSize: 16 << 10, Sync: mode})
			if err != nil {
				t.Fatal(err)
			}
			d.prepareLog() // as the log goroutine does after Open (it may be first)
			d.walMu.Lock()
			prepared, first := d.nextLog, d.wal.num
			d.walMu.Unlock()
			if prepared == nil || prepared.num <= first {
				t.Fatalf("no log prepared after the live log %d: %+v", first, prepared)
			}
			for i := 0; ; i++ {
				if err := d.Put(fmt.Appendf(nil, "k%06d", i), make([]byte, 100)); err != nil {
					t.Fatal(err)
				}
				d.walMu.Lock()
				num := d.wal.num
				d.walMu.Unlock()
				if num != first {
					if num != prepared.num {
						t.Fatalf("switched to log %d, not the prepared %d", num, prepared.num)
					}
					break
				}
			}
			d.prepareLog()
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			names, _ := fs.List("/db")
			var logs []string
			for _, n := range names {
				if typ, _ := parseName(n); typ == typeWAL {
					logs = append(logs, n)
				}
			}
			// Close flushes the memtable, which may switch once more.
			if len(logs) != 1 || logs[0] < walName(prepared.num) {
				t.Errorf("logs after Close: %v, want only the last one (a prepared log left behind?)", logs)
			}
		})
	}
}
