package blake3

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"
)

// These tests run every kernel this machine supports, the portable Go one
// included, against the official vectors and against each other, so that
// the assembly and the fallback are both checked on every run.

func testInput(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestKernelsVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/blake3_test_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Key           string `json:"key"`
		ContextString string `json:"context_string"`
		Cases         []struct {
			InputLen  int    `json:"input_len"`
			Hash      string `json:"hash"`
			KeyedHash string `json:"keyed_hash"`
			DeriveKey string `json:"derive_key"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range kernels() {
		t.Run(k.String(), func(t *testing.T) {
			for _, c := range v.Cases {
				in := testInput(c.InputLen)
				keyed := newHasher(keyWords([]byte(v.Key)), flagKeyedHash)
				keyed.t.kern = k
				plain := newHasher(iv, 0)
				plain.t.kern = k
				modes := []struct {
					name, want string
					h          *Hasher
				}{
					{"hash", c.Hash, plain},
					{"keyed_hash", c.KeyedHash, keyed},
					{"derive_key", c.DeriveKey, newDeriveKey(k, v.ContextString)},
				}
				for _, m := range modes {
					m.h.Write(in)
					got := make([]byte, len(m.want)/2)
					m.h.XOF().Read(got)
					if hex.EncodeToString(got) != m.want {
						t.Errorf("%s len %d: got %x, want %s", m.name, c.InputLen, got, m.want)
					}
				}
				sum := sum256(k, in)
				if hex.EncodeToString(sum[:]) != c.Hash[:64] {
					t.Errorf("sum256 len %d: got %x, want %s", c.InputLen, sum, c.Hash[:64])
				}
			}
		})
	}
}

// TestKernelsAgree compares each kernel's primitives with the portable
// code on random inputs, including the partial batches (1 to 16 lanes)
// the tail of a message uses.
func TestKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	in := make([]byte, batchLen+chunkLen)
	for i := range in {
		in[i] = byte(rng.Uint32())
	}
	key := [8]uint32{rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32(), rng.Uint32()}
	counter := uint64(1)<<32 - 3 // lanes cross a carry into the high word
	for _, k := range kernels() {
		t.Run(k.String(), func(t *testing.T) {
			for n := 1; n <= batchChunks; n++ {
				var want, got [batchChunks][8]uint32
				kernGeneric.hashChunks(in[:n*chunkLen], &key, counter, flagKeyedHash, &want)
				k.hashChunks(in[:n*chunkLen], &key, counter, flagKeyedHash, &got)
				if !equalCVs(want[:n], got[:n]) {
					t.Errorf("hashChunks(%d chunks) differs", n)
				}
			}
			var cvs [batchChunks][8]uint32
			kernGeneric.hashChunks(in[:batchLen], &key, 0, 0, &cvs)
			for n := 1; n <= batchChunks/2; n++ {
				var want, got [batchChunks][8]uint32
				kernGeneric.hashParents(&cvs, n, &key, flagDeriveKeyMaterial, &want)
				k.hashParents(&cvs, n, &key, flagDeriveKeyMaterial, &got)
				if !equalCVs(want[:n], got[:n]) {
					t.Errorf("hashParents(%d) differs", n)
				}
			}
			for n := 1; n < chunkLen/BlockSize; n++ {
				want, got := key, key
				kernGeneric.compressBlocks(&want, in[:n*BlockSize], counter, 0, flagChunkStart)
				k.compressBlocks(&got, in[:n*BlockSize], counter, 0, flagChunkStart)
				if want != got {
					t.Errorf("compressBlocks(%d blocks) differs", n)
				}
			}
			for i := range 50 {
				block := (*[BlockSize]byte)(in[i*BlockSize:])
				ctr, blen, flags := rng.Uint64(), uint32(rng.IntN(BlockSize+1)), uint32(rng.IntN(128))
				want, got := key, key
				kernGeneric.compress(&want, block, ctr, blen, flags)
				k.compress(&got, block, ctr, blen, flags)
				if want != got {
					t.Errorf("compress differs")
				}
				var wantFull, gotFull [BlockSize]byte
				kernGeneric.compressFull(&key, block, ctr, blen, flags, &wantFull)
				k.compressFull(&key, block, ctr, blen, flags, &gotFull)
				if wantFull != gotFull {
					t.Errorf("compressFull differs")
				}
			}
			for _, n := range []int{0, 1, 64, 1024, 1025, 15 * 1024, 16 * 1024, 16*1024 + 1, 17 * 1024, 33 * 1024, 100000, 1 << 20} {
				data := in
				for len(data) < n {
					data = append(data, in...)
				}
				data = data[:n]
				if want, got := sum256(kernGeneric, data), sum256(k, data); want != got {
					t.Errorf("sum256(%d bytes) = %x, want %x", n, got, want)
				}
				h := newHasher(key, flagKeyedHash)
				h.t.kern = k
				g := newHasher(key, flagKeyedHash)
				g.t.kern = kernGeneric
				h.Write(data)
				g.Write(data)
				if !bytes.Equal(h.Sum(nil), g.Sum(nil)) {
					t.Errorf("keyed Hasher(%d bytes) differs from generic", n)
				}
			}
		})
	}
}

func equalCVs(a, b [][8]uint32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDetectedKernelListed(t *testing.T) {
	ks := kernels()
	if ks[0] != kernGeneric {
		t.Errorf("kernels() = %v, want the generic kernel first", ks)
	}
	t.Logf("detected kernel: %v; testing %v", detected, ks)
}

// refOutput is a direct, recursive reading of the specification's tree:
// the left subtree of a node over n > 1 chunks holds the largest power of
// two of them that is smaller than n. It shares only the compression
// function with the package, not the stack and batch logic under test.
func refOutput(data []byte, key *[8]uint32, flags uint32, counter uint64) output {
	if len(data) <= chunkLen {
		return chunkOutput(kernGeneric, data, key, counter, flags)
	}
	chunks := (len(data) + chunkLen - 1) / chunkLen
	left := 1
	for left*2 < chunks {
		left *= 2
	}
	l := refOutput(data[:left*chunkLen], key, flags, counter)
	r := refOutput(data[left*chunkLen:], key, flags, counter+uint64(left))
	lcv, rcv := l.chainingValue(kernGeneric), r.chainingValue(kernGeneric)
	return parentOutput(&lcv, &rcv, key, flags)
}

func TestTreeAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	data := make([]byte, 70*chunkLen)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var lengths []int
	for c := 0; c <= 70; c++ {
		lengths = append(lengths, c*chunkLen)
		if c < 70 {
			lengths = append(lengths, c*chunkLen+1+rng.IntN(chunkLen-1))
		}
	}
	for _, k := range kernels() {
		for _, n := range lengths {
			o := refOutput(data[:n], &iv, 0, 0)
			want := o.rootChainingValue(kernGeneric)
			var wantSum [Size]byte
			putWords(wantSum[:], &want)
			if got := sum256(k, data[:n]); got != wantSum {
				t.Errorf("%v: sum256(%d bytes) = %x, reference %x", k, n, got, wantSum)
			}
			h := newHasher(iv, 0)
			h.t.kern = k
			h.Write(data[:n/3])
			h.Write(data[n/3 : n])
			var full, wantFull [BlockSize]byte
			h.XOF().Read(full[:])
			o.rootBlock(kernGeneric, 0, &wantFull)
			if full != wantFull {
				t.Errorf("%v: Hasher(%d bytes) differs from the reference", k, n)
			}
		}
	}
}
