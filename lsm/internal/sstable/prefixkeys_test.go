package sstable

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

type modelFile struct{ b []byte }

func (f *modelFile) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(f.b).ReadAt(p, off)
}

type modelCache map[[2]uint64][]byte

func (c modelCache) Get(id, off uint64) ([]byte, bool) { b, ok := c[[2]uint64{id, off}]; return b, ok }
func (c modelCache) Add(id, off uint64, b []byte)      { c[[2]uint64{id, off}] = b }

// TestPrefixKeysModel builds tables of short keys over a two-letter
// alphabet (so that many keys are prefixes of others, including the empty
// key) with random block sizes and restart intervals, and checks a full
// scan, SeekGE on every possible target, and the bloom filter against a
// sorted model.
func TestPrefixKeysModel(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		set := map[string]bool{}
		for range r.IntN(200) {
			k := make([]byte, r.IntN(7))
			for i := range k {
				k[i] = "ab"[r.IntN(2)]
			}
			set[string(k)] = true
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var buf bytes.Buffer
		w := NewWriter(&buf, WriterOptions{Compare: bytes.Compare, BlockSize: 1 + r.IntN(200), RestartInterval: 1 + r.IntN(5)})
		for i, k := range keys {
			if err := w.Add([]byte(k), []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var cache BlockCache
		if seed%2 == 0 {
			cache = modelCache{}
		}
		rd, err := NewReader(&modelFile{buf.Bytes()}, int64(buf.Len()), ReaderOptions{Compare: bytes.Compare, Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		it := rd.NewIter()
		var got []string
		for ok := it.First(); ok; ok = it.Next() {
			got = append(got, string(it.Key()))
		}
		if it.Err() != nil || !slices.Equal(got, keys) {
			t.Fatalf("seed %d: scan %q, want %q (%v)", seed, got, keys, it.Err())
		}
		// Every target of length <= 7 over a, b and a byte between them.
		var targets []string
		var gen func(p string)
		gen = func(p string) {
			targets = append(targets, p)
			if len(p) < 5 {
				for _, c := range "aAb" {
					gen(p + string(c))
				}
			}
		}
		gen("")
		for _, tg := range targets {
			i := sort.SearchStrings(keys, tg)
			ok := it.SeekGE([]byte(tg))
			if ok != (i < len(keys)) || ok && (string(it.Key()) != keys[i] || it.Value()[0] != byte(i)) {
				t.Fatalf("seed %d: SeekGE(%q) = %v %q, want index %d of %q", seed, tg, ok, it.Key(), i, keys)
			}
			// And the scan goes on from there without skipping.
			for j := i + 1; ok && j < min(len(keys), i+3); j++ {
				if !it.Next() || string(it.Key()) != keys[j] {
					t.Fatalf("seed %d: after SeekGE(%q), Next = %q, want %q", seed, tg, it.Key(), keys[j])
				}
			}
		}
		for _, k := range keys {
			if !rd.MayContain([]byte(k)) {
				t.Fatalf("seed %d: bloom false negative for %q", seed, k)
			}
		}
	}
}
