package lsm

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// The skiplist's search shortcuts (the key prefix in each node and the
// splice of the last insert) must not change what it holds or finds.
// These tests insert keys in orders that use the shortcuts (ascending
// runs, keys sharing long prefixes, keys shorter than a prefix, one user
// key at many sequence numbers) and in orders that defeat them, and check
// the list against a sorted model.

type slEntry struct {
	ukey    []byte
	trailer uint64
}

func compareSLEntry(a, b slEntry) int {
	if c := bytes.Compare(a.ukey, b.ukey); c != 0 {
		return c
	}
	return cmp.Compare(b.trailer, a.trailer) // newer first
}

func TestKeyPrefixOrder(t *testing.T) {
	keys := [][]byte{
		nil, {0}, {0, 0}, {0, 1}, {1}, []byte("a"), []byte("ab"), []byte("ab\x00"),
		[]byte("ab\x00\x01"), []byte("abcdefgh"), []byte("abcdefgh\x00"), []byte("abcdefgi"),
		[]byte("abcdefghijk"), {0xff}, bytes.Repeat([]byte{0xff}, 9),
		[]byte("\x05benchk0000001"), []byte("\x05benchk0000002"), []byte("\x05benchk00000010"),
		[]byte("\x05benchk000000100"), []byte("\x05benchk0000001\x00"), bytes.Repeat([]byte{0xff}, 17),
		[]byte("\x05bench"), []byte("\x05benc"), []byte("\x05bencha"), []byte("\x05benci"), []byte("\x04test"),
		[]byte("\x05benchkey-00001234"), []byte("\x05benchkey-00001235"), []byte("\x06bench2k"),
	}
	// The point of the shared prefix: keys that differ only after 16
	// bytes of it get different abbreviations.
	s := newSkiplist(1<<10, 1<<10)
	s.setShared([]byte("\x05benchkey-0000"))
	if a, b := s.abbreviate([]byte("\x05benchkey-00001234")), s.abbreviate([]byte("\x05benchkey-00001235")); !a.less(b) {
		t.Errorf("abbreviations past the shared prefix: %v, %v", a, b)
	}
	for _, shared := range []string{"", "\x05bench", "\x05benchkey-0000", "ab", "\xff\xff", "zz"} {
		s := newSkiplist(1<<10, 1<<10)
		s.setShared([]byte(shared))
		for _, a := range keys {
			for _, b := range keys {
				pa, pb := s.abbreviate(a), s.abbreviate(b)
				c := bytes.Compare(a, b)
				if pa.less(pb) && c >= 0 || pb.less(pa) && c <= 0 {
					t.Errorf("shared %q: abbreviate(%q)=%v, abbreviate(%q)=%v, but Compare=%d", shared, a, pa, b, pb, c)
				}
			}
		}
	}
}

func TestSkiplistOrders(t *testing.T) {
	orders := []struct {
		name string
		keys func(rng *rand.Rand, n int) [][]byte
	}{
		{"ascending", func(_ *rand.Rand, n int) [][]byte {
			var ks [][]byte
			for i := range n {
				ks = append(ks, fmt.Appendf(nil, "%016d", i))
			}
			return ks
		}},
		{"descending", func(_ *rand.Rand, n int) [][]byte {
			var ks [][]byte
			for i := range n {
				ks = append(ks, fmt.Appendf(nil, "%016d", n-i))
			}
			return ks
		}},
		{"random", func(rng *rand.Rand, n int) [][]byte {
			var ks [][]byte
			for range n {
				ks = append(ks, fmt.Appendf(nil, "%016d", rng.IntN(n*4)))
			}
			return ks
		}},
		{"ascending runs", func(rng *rand.Rand, n int) [][]byte {
			var ks [][]byte
			for len(ks) < n {
				base := rng.Uint64N(1 << 20)
				for i := range rng.IntN(30) {
					ks = append(ks, binary.BigEndian.AppendUint64([]byte("shared-prefix/"), base+uint64(i)))
				}
			}
			return ks[:n]
		}},
		{"short and binary", func(rng *rand.Rand, n int) [][]byte {
			var ks [][]byte
			for range n {
				k := make([]byte, rng.IntN(11))
				for i := range k {
					k[i] = byte(rng.IntN(3)) // many zero bytes and shared prefixes
				}
				ks = append(ks, k)
			}
			return ks
		}},
	}
	// Shared prefixes that most, some or none of the keys start with, so
	// that every abbreviation class is met.
	shared := []string{"", "shared-prefix/", "000000000000", "\x00\x01", "zzz"}
	for _, o := range orders {
		for _, sh := range shared {
			t.Run(fmt.Sprintf("%s/shared=%q", o.name, sh), func(t *testing.T) { testSkiplistOrder(t, o.keys, sh) })
		}
	}
}

func testSkiplistOrder(t *testing.T, gen func(rng *rand.Rand, n int) [][]byte, shared string) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := gen(rng, 3000)
	s := newSkiplist(1<<20, 1<<20)
	s.setShared([]byte(shared))
	var model []slEntry
	for i, k := range keys {
		tr := makeTrailer(uint64(i+1), kindSet)
		s.add(k, tr, k)
		model = append(model, slEntry{k, tr})
	}
	slices.SortFunc(model, compareSLEntry)
	it := &skiplistIter{s: s}
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(model) {
			t.Fatalf("list has more than %d entries", len(model))
		}
		want := model[i]
		ik := it.Key()
		if !bytes.Equal(userKey(ik), want.ukey) || trailerOf(ik) != want.trailer || !bytes.Equal(it.Value(), want.ukey) {
			t.Fatalf("entry %d: got %q/%x, want %q/%x", i, userKey(ik), trailerOf(ik), want.ukey, want.trailer)
		}
		i++
	}
	if i != len(model) {
		t.Fatalf("list has %d entries, want %d", i, len(model))
	}
	// Every search lands on the first entry >= the probe.
	for range 2000 {
		probe := model[rng.IntN(len(model))]
		probe.trailer = makeTrailer(rng.Uint64N(uint64(len(keys))+2), kindMax)
		if rng.IntN(2) == 0 {
			probe.ukey = append(slices.Clone(probe.ukey), byte(rng.IntN(2)))
		}
		want, _ := slices.BinarySearchFunc(model, probe, compareSLEntry)
		n := s.seekGE(probe.ukey, probe.trailer, nil)
		if want == len(model) {
			if n != 0 {
				t.Fatalf("seekGE(%q, %x) found %q, want none", probe.ukey, probe.trailer, userKey(s.key(n)))
			}
			continue
		}
		if n == 0 {
			t.Fatalf("seekGE(%q, %x) found none, want %q", probe.ukey, probe.trailer, model[want].ukey)
		}
		got := slEntry{userKey(s.key(n)), trailerOf(s.key(n))}
		if compareSLEntry(got, model[want]) != 0 {
			t.Fatalf("seekGE(%q, %x) = %q/%x, want %q/%x", probe.ukey, probe.trailer, got.ukey, got.trailer, model[want].ukey, model[want].trailer)
		}
	}
}

// TestSkiplistConcurrentSeek searches for keys already in the list while
// the writer keeps inserting keys among them: a search must always find
// an entry that was published before it began. It failed (about one
// search in 10⁵) when the search returned a fresh load of its last
// predecessor's successor, which a concurrent insert may have changed to
// a node before the search key.
func TestSkiplistConcurrentSeek(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		keys := make([][]byte, 8000)
		for i := range keys {
			keys[i] = fmt.Appendf(nil, "w%d/%06d", rng.IntN(4), rng.IntN(1000))
		}
		s := newSkiplist(1<<20, 1<<20)
		var published atomic.Int64
		var bad atomic.Int64
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rr := rand.New(rand.NewPCG(uint64(round), uint64(r)))
				for {
					n := published.Load()
					if n == int64(len(keys)) {
						return
					}
					if n == 0 {
						continue
					}
					// Entry i has sequence number i+1 <= n: visible.
					k := keys[rr.Int64N(n)]
					x := s.seekGE(k, makeTrailer(uint64(n), kindMax), nil)
					if x == 0 || !bytes.Equal(userKey(s.key(x)), k) {
						bad.Add(1)
					}
				}
			}()
		}
		for i, k := range keys {
			s.add(k, makeTrailer(uint64(i+1), kindSet), []byte("v"))
			published.Store(int64(i + 1))
		}
		wg.Wait()
		if n := bad.Load(); n > 0 {
			t.Fatalf("round %d: %d searches missed a published entry", round, n)
		}
	}
}
