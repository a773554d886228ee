package sstable_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"amaters-server/lsm/internal/sstable"
)

type memFile struct{ bytes.Buffer }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m.Bytes()).ReadAt(p, off)
}

type mapCache map[[2]uint64][]byte

func (c mapCache) Get(id, off uint64) ([]byte, bool) { b, ok := c[[2]uint64{id, off}]; return b, ok }
func (c mapCache) Add(id, off uint64, b []byte)      { c[[2]uint64{id, off}] = b }

func build(t testing.TB, n int, opts sstable.WriterOptions) []byte {
	t.Helper()
	var f memFile
	if opts.Compare == nil {
		opts.Compare = bytes.Compare
	}
	w := sstable.NewWriter(&f, opts)
	for i := range n {
		if err := w.Add(fmt.Appendf(nil, "key%06d", i), fmt.Appendf(nil, "value%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	props, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if props.NumEntries != uint64(n) {
		t.Fatalf("NumEntries = %d", props.NumEntries)
	}
	return f.Bytes()
}

func open(t testing.TB, data []byte, cache sstable.BlockCache) (*sstable.Reader, error) {
	f := &memFile{}
	f.Write(data)
	return sstable.NewReader(f, int64(len(data)), sstable.ReaderOptions{Compare: bytes.Compare, Cache: cache})
}

func TestReadBack(t *testing.T) {
	tests := []struct {
		name string
		n    int
		opts sstable.WriterOptions
	}{
		{"empty", 0, sstable.WriterOptions{}},
		{"one", 1, sstable.WriterOptions{}},
		{"many blocks", 5000, sstable.WriterOptions{}},
		{"tiny blocks no filter", 300, sstable.WriterOptions{BlockSize: 64, RestartInterval: 2, BloomBitsPerKey: -1}},
		{"snappy", 5000, sstable.WriterOptions{Compression: sstable.SnappyCompression}},
		{"snappy tiny blocks", 300, sstable.WriterOptions{BlockSize: 64, RestartInterval: 2, Compression: sstable.SnappyCompression}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := open(t, build(t, tc.n, tc.opts), mapCache{})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Properties().NumEntries; got != uint64(tc.n) {
				t.Errorf("NumEntries = %d", got)
			}
			it := r.NewIter()
			i := 0
			for ok := it.First(); ok; ok = it.Next() {
				if want := fmt.Sprintf("key%06d", i); string(it.Key()) != want {
					t.Fatalf("key %d = %q, want %q", i, it.Key(), want)
				}
				i++
			}
			if it.Err() != nil || i != tc.n {
				t.Fatalf("scanned %d, err %v", i, it.Err())
			}
			for j := 0; j < tc.n; j += 7 {
				k := fmt.Appendf(nil, "key%06d", j)
				if !r.MayContain(k) {
					t.Fatalf("bloom false negative for %s", k)
				}
				if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) || string(it.Value()) != fmt.Sprintf("value%d", j) {
					t.Fatalf("SeekGE(%s) = %q", k, it.Key())
				}
				// Between keys: lands on the next one.
				if j+1 < tc.n {
					between := append(bytes.Clone(k), 0)
					if !it.SeekGE(between) || string(it.Key()) != fmt.Sprintf("key%06d", j+1) {
						t.Fatalf("SeekGE(%q) = %q", between, it.Key())
					}
				}
			}
			if it.SeekGE([]byte("zzz")) {
				t.Error("SeekGE past the end found a key")
			}
		})
	}
}

func TestBloomFalsePositiveRate(t *testing.T) {
	r, err := open(t, build(t, 10000, sstable.WriterOptions{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	fp := 0
	for i := range 10000 {
		if r.MayContain(fmt.Appendf(nil, "absent%06d", i)) {
			fp++
		}
	}
	// 10 bits per key gives about 1%; allow 3%.
	if fp > 300 {
		t.Errorf("false positive rate %.2f%%", float64(fp)/100)
	}
}

func TestOutOfOrder(t *testing.T) {
	var f memFile
	w := sstable.NewWriter(&f, sstable.WriterOptions{Compare: bytes.Compare})
	w.Add([]byte("b"), nil)
	if err := w.Add([]byte("a"), nil); err == nil {
		t.Fatal("out-of-order Add accepted")
	}
}

// TestCorruption flips every byte of a small table in turn: each flip must
// give an error or the right data, never a wrong key or value.
func TestCorruption(t *testing.T) {
	data := build(t, 200, sstable.WriterOptions{BlockSize: 256})
	for off := range data {
		bad := bytes.Clone(data)
		bad[off] ^= 0x40
		r, err := open(t, bad, nil)
		if err != nil {
			if !errors.Is(err, sstable.ErrCorrupt) {
				t.Fatalf("flip at %d: open error %v is not ErrCorrupt", off, err)
			}
			continue
		}
		it := r.NewIter()
		i := 0
		for ok := it.First(); ok; ok = it.Next() {
			if string(it.Key()) != fmt.Sprintf("key%06d", i) || string(it.Value()) != fmt.Sprintf("value%d", i) {
				t.Fatalf("flip at %d: wrong entry %d: %q=%q", off, i, it.Key(), it.Value())
			}
			i++
		}
		if it.Err() == nil && i != 200 {
			t.Fatalf("flip at %d: %d entries and no error", off, i)
		}
		if it.Err() != nil && !errors.Is(it.Err(), sstable.ErrCorrupt) {
			t.Fatalf("flip at %d: error %v is not ErrCorrupt", off, it.Err())
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(build(f, 50, sstable.WriterOptions{BlockSize: 128}))
	f.Add(build(f, 0, sstable.WriterOptions{}))
	f.Add([]byte("not a table at all, but long enough to have a footer of 48 bytes....."))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := open(t, data, nil)
		if err != nil {
			return
		}
		it := r.NewIter()
		var prev []byte
		n := 0
		for ok := it.First(); ok && n < 100000; ok = it.Next() {
			// A table that verifies yields its keys; they need not be
			// sorted if the writer was fed garbage, but reading must
			// not panic, and SeekGE on each key must not panic either.
			prev = append(prev[:0], it.Key()...)
			n++
		}
		it2 := r.NewIter()
		if len(prev) > 0 {
			it2.SeekGE(prev)
		}
		r.MayContain(prev)
	})
}

func FuzzBlock(f *testing.F) {
	// A block alone is reached through a one-block table, so the fuzzer
	// edits the first data block while keeping the CRCs valid.
	f.Add([]byte("\x00\x04\x01key1v\x00\x00\x00\x00\x01\x00\x00\x00"))
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, block []byte) {
		data := sstable.TableWithDataBlock(block)
		r, err := open(t, data, nil)
		if err != nil {
			return
		}
		it := r.NewIter()
		for ok := it.First(); ok; ok = it.Next() {
			_ = it.Value()
		}
		it.SeekGE([]byte("key"))
		it.SeekGE(nil)
	})
}

// countingFile counts the reads of a table.
type countingFile struct {
	memFile
	reads int
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.memFile.ReadAt(p, off)
}

// TestReadahead checks that a scan reads many blocks per ReadAt, leaves
// the block cache alone past its first block, and still yields every
// entry, also when an iterator is reused through Release and Reset.
func TestReadahead(t *testing.T) {
	const n = 20000
	data := build(t, n, sstable.WriterOptions{BlockSize: 512})
	f := &countingFile{}
	f.Write(data)
	cache := mapCache{}
	r, err := sstable.NewReader(f, int64(len(data)), sstable.ReaderOptions{Compare: bytes.Compare, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	blocks := int(r.Properties().NumDataBlocks)
	if blocks < 500 {
		t.Fatalf("only %d blocks", blocks)
	}
	it := r.NewIter()
	for round := range 2 {
		f.reads = 0
		i := 0
		for ok := it.First(); ok; ok = it.Next() {
			if string(it.Key()) != fmt.Sprintf("key%06d", i) || string(it.Value()) != fmt.Sprintf("value%d", i) {
				t.Fatalf("round %d: entry %d = %q=%q", round, i, it.Key(), it.Value())
			}
			i++
		}
		if it.Err() != nil || i != n {
			t.Fatalf("round %d: scanned %d, err %v", round, i, it.Err())
		}
		if f.reads > blocks/8 {
			t.Errorf("round %d: %d reads for %d blocks", round, f.reads, blocks)
		}
		if len(cache) != 3 {
			t.Errorf("round %d: %d blocks cached, want the index, the filter and the first data block", round, len(cache))
		}
		it.Release()
		it.Reset(r)
	}
	// A scan that starts with SeekGE reads ahead from there.
	if !it.SeekGE([]byte("key010000")) {
		t.Fatal(it.Err())
	}
	i := 10000
	for ok := true; ok; ok = it.Next() {
		if string(it.Key()) != fmt.Sprintf("key%06d", i) {
			t.Fatalf("after SeekGE: entry %d = %q", i, it.Key())
		}
		i++
	}
	if it.Err() != nil || i != n {
		t.Fatalf("after SeekGE: scanned to %d, err %v", i, it.Err())
	}
}

func BenchmarkSeek(b *testing.B) {
	r, err := open(b, build(b, 10000, sstable.WriterOptions{}), mapCache{})
	if err != nil {
		b.Fatal(err)
	}
	it := r.NewIter()
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key%06d", i*9)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		it.SeekGE(keys[i&1023])
		i++
	}
}

// TestCompression: with Snappy, data blocks that shrink by an eighth are
// stored compressed and those that do not are stored as they are, and
// both read back through every path (point reads through the cache,
// sequential scans through the read-ahead window). A flipped bit in a
// compressed block is a checksum mismatch, not garbage.
func TestCompression(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	type kv struct{ k, v []byte }
	var kvs []kv
	for i := range 3000 {
		v := fmt.Appendf(nil, `{"id":%d,"name":"user %d","tags":["a","b","c"],"active":true}`, i, i%97)
		if i/500%2 == 1 {
			v = random(100) // runs of incompressible values
		}
		kvs = append(kvs, kv{fmt.Appendf(nil, "key%06d", i), v})
	}
	write := func(c sstable.Compression) []byte {
		var f memFile
		w := sstable.NewWriter(&f, sstable.WriterOptions{Compare: bytes.Compare, Compression: c})
		for _, e := range kvs {
			if err := w.Add(e.k, e.v); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return f.Bytes()
	}
	plain, packed := write(sstable.NoCompression), write(sstable.SnappyCompression)
	stored := sstable.BlockCompressions(packed)
	if stored[sstable.SnappyCompression] == 0 || stored[sstable.NoCompression] == 0 {
		t.Fatalf("blocks by compression %v: want compressed (JSON) and stored (random) blocks", stored)
	}
	if got := sstable.BlockCompressions(plain); got[sstable.SnappyCompression] != 0 {
		t.Fatalf("NoCompression wrote compressed blocks: %v", got)
	}
	if len(packed) >= len(plain)*3/4 {
		t.Errorf("compressed table %d bytes, uncompressed %d", len(packed), len(plain))
	}
	for _, cache := range []sstable.BlockCache{nil, mapCache{}} {
		r, err := open(t, packed, cache)
		if err != nil {
			t.Fatal(err)
		}
		it := r.NewIter()
		i := 0
		for ok := it.First(); ok; ok = it.Next() {
			if !bytes.Equal(it.Key(), kvs[i].k) || !bytes.Equal(it.Value(), kvs[i].v) {
				t.Fatalf("scan entry %d = %q", i, it.Key())
			}
			i++
		}
		if it.Err() != nil || i != len(kvs) {
			t.Fatalf("scanned %d of %d: %v", i, len(kvs), it.Err())
		}
		for j := 0; j < len(kvs); j += 13 {
			if !it.SeekGE(kvs[j].k) || !bytes.Equal(it.Value(), kvs[j].v) {
				t.Fatalf("SeekGE(%s) = %q", kvs[j].k, it.Key())
			}
		}
	}
	// Damage the first (compressed) block.
	bad := bytes.Clone(packed)
	bad[10] ^= 0x10
	r, err := open(t, bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	it := r.NewIter()
	for ok := it.First(); ok; ok = it.Next() {
	}
	if !errors.Is(it.Err(), sstable.ErrCorrupt) {
		t.Fatalf("scan of a damaged compressed block: %v, want ErrCorrupt", it.Err())
	}
}

// TestIndexFilterInCache: with a block cache, the index and filter blocks
// live in the cache, charged to its size, not in the Reader; once evicted
// they are read again, and reads and the filter work as before.
func TestIndexFilterInCache(t *testing.T) {
	data := build(t, 5000, sstable.WriterOptions{})
	cache := mapCache{}
	r, err := open(t, data, cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(cache) != 2 {
		t.Fatalf("%d blocks cached after open, want the index and the filter", len(cache))
	}
	for round := range 2 {
		clear(cache) // everything evicted
		it := r.NewIter()
		for j := 0; j < 5000; j += 11 {
			k := fmt.Appendf(nil, "key%06d", j)
			if !r.MayContain(k) {
				t.Fatalf("round %d: bloom false negative for %s", round, k)
			}
			if !it.SeekGE(k) || string(it.Value()) != fmt.Sprintf("value%d", j) {
				t.Fatalf("round %d: SeekGE(%s) = %q", round, k, it.Key())
			}
		}
		fp := 0
		for j := range 1000 {
			if r.MayContain(fmt.Appendf(nil, "absent%06d", j)) {
				fp++
			}
		}
		if fp > 50 {
			t.Fatalf("round %d: the filter passed %d of 1000 absent keys", round, fp)
		}
		it.Release()
	}
}
