package blake3_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"amaters-server/blake3"
)

// vectorFile is the official test vector file of the BLAKE3 reference
// repository (see testdata/README.md).
type vectorFile struct {
	Key           string `json:"key"`
	ContextString string `json:"context_string"`
	Cases         []struct {
		InputLen  int    `json:"input_len"`
		Hash      string `json:"hash"`
		KeyedHash string `json:"keyed_hash"`
		DeriveKey string `json:"derive_key"`
	} `json:"cases"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/blake3_test_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("no test vectors")
	}
	return v
}

// vectorInput returns the input of the vectors: byte i is i % 251.
func vectorInput(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func mustKeyed(t testing.TB, key []byte) *blake3.Hasher {
	t.Helper()
	h, err := blake3.NewKeyed(key)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readXOF(t testing.TB, h *blake3.Hasher, n int) []byte {
	t.Helper()
	out := make([]byte, n)
	if _, err := io.ReadFull(h.XOF(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVectors(t *testing.T) {
	v := loadVectors(t)
	key := []byte(v.Key)
	for _, c := range v.Cases {
		in := vectorInput(c.InputLen)
		modes := []struct {
			name string
			want string
			h    *blake3.Hasher
		}{
			{"hash", c.Hash, blake3.New()},
			{"keyed_hash", c.KeyedHash, mustKeyed(t, key)},
			{"derive_key", c.DeriveKey, blake3.NewDeriveKey(v.ContextString)},
		}
		for _, m := range modes {
			want, err := hex.DecodeString(m.want)
			if err != nil {
				t.Fatal(err)
			}
			h := m.h
			h.Write(in)
			if got := h.Sum(nil); !bytes.Equal(got, want[:blake3.Size]) {
				t.Errorf("%s len %d: Sum = %x, want %x", m.name, c.InputLen, got, want[:blake3.Size])
			}
			if got := readXOF(t, h, len(want)); !bytes.Equal(got, want) {
				t.Errorf("%s len %d: XOF = %x, want %x", m.name, c.InputLen, got, want)
			}
		}
		want, _ := hex.DecodeString(c.Hash)
		if got := blake3.Sum256(in); !bytes.Equal(got[:], want[:blake3.Size]) {
			t.Errorf("Sum256 len %d = %x, want %x", c.InputLen, got, want[:blake3.Size])
		}
		wantKeyed, _ := hex.DecodeString(c.KeyedHash)
		if got := blake3.SumKeyed((*[blake3.KeySize]byte)(key), in); !bytes.Equal(got[:], wantKeyed[:blake3.Size]) {
			t.Errorf("SumKeyed len %d = %x, want %x", c.InputLen, got, wantKeyed[:blake3.Size])
		}
	}
}

func TestNewKeyedKeySize(t *testing.T) {
	for _, n := range []int{0, 1, 31, 33, 64} {
		if _, err := blake3.NewKeyed(make([]byte, n)); !errors.Is(err, blake3.ErrKeySize) {
			t.Errorf("NewKeyed(%d bytes) error = %v, want ErrKeySize", n, err)
		}
	}
	if _, err := blake3.NewKeyed(make([]byte, blake3.KeySize)); err != nil {
		t.Errorf("NewKeyed(32 bytes) error = %v", err)
	}
}

func TestHashInterface(t *testing.T) {
	h := blake3.New()
	if h.Size() != 32 || h.BlockSize() != 64 {
		t.Errorf("Size, BlockSize = %d, %d, want 32, 64", h.Size(), h.BlockSize())
	}
	prefix := []byte("prefix")
	got := h.Sum(prefix)
	want := blake3.Sum256(nil)
	if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want[:]) {
		t.Errorf("Sum(prefix) = %x, want prefix then %x", got, want)
	}
}

// splitSizes are lengths that straddle the block, chunk and batch
// boundaries where the streaming code changes paths.
var splitSizes = []int{0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049,
	8191, 8192, 8193, 16383, 16384, 16385, 32768, 32769, 65536 + 1024 + 17, 200000}

// newModes returns one Hasher of each mode, for properties that must hold
// in all of them.
func newModes(t testing.TB) map[string]func() *blake3.Hasher {
	key := bytes.Repeat([]byte{7}, blake3.KeySize)
	return map[string]func() *blake3.Hasher{
		"hash":       blake3.New,
		"keyed_hash": func() *blake3.Hasher { return mustKeyed(t, key) },
		"derive_key": func() *blake3.Hasher { return blake3.NewDeriveKey("amaters-server test") },
	}
}

func TestSplitWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, newH := range newModes(t) {
		t.Run(name, func(t *testing.T) {
			for _, n := range splitSizes {
				in := make([]byte, n)
				for i := range in {
					in[i] = byte(rng.Uint32())
				}
				one := newH()
				one.Write(in)
				want := readXOF(t, one, 100)
				pieceSets := [][]int{{1}, {63}, {64}, {65}, {1024}, {1025}, {16384}, {16385}, {3, 1000, 17000}}
				for try := range 5 {
					_ = try
					pieceSets = append(pieceSets, []int{1 + rng.IntN(2000), 1 + rng.IntN(40000)})
				}
				for _, pieces := range pieceSets {
					h := newH()
					rest := in
					for i := 0; len(rest) > 0; i++ {
						c := min(pieces[i%len(pieces)], len(rest))
						if i%2 == 0 {
							h.Write(rest[:c])
						} else {
							h.WriteString(string(rest[:c]))
						}
						rest = rest[c:]
					}
					if got := readXOF(t, h, 100); !bytes.Equal(got, want) {
						t.Fatalf("len %d pieces %v: got %x, want %x", n, pieces, got, want)
					}
				}
			}
		})
	}
}

func TestXOFPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, newH := range newModes(t) {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{0, 65, 1025, 20000} {
				h := newH()
				h.Write(vectorInput(n))
				want := readXOF(t, h, 5000)
				for try := range 20 {
					r := h.XOF()
					var got []byte
					for len(got) < len(want) {
						size := 1 + rng.IntN(200)
						if try%4 == 0 {
							size = 1 + rng.IntN(3)
						}
						p := make([]byte, min(size, len(want)-len(got)))
						if c, err := r.Read(p); c != len(p) || err != nil {
							t.Fatalf("Read(%d bytes) = %d, %v", len(p), c, err)
						}
						got = append(got, p...)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("len %d: pieced XOF differs from one read", n)
					}
				}
			}
		})
	}
}

func TestSumDoesNotChangeState(t *testing.T) {
	for name, newH := range newModes(t) {
		t.Run(name, func(t *testing.T) {
			in := vectorInput(70000)
			ref := newH()
			ref.Write(in)
			want := ref.Sum(nil)

			h := newH()
			var sums [][]byte
			for i := 0; i < len(in); i += 9000 {
				h.Write(in[i:min(i+9000, len(in))])
				sums = append(sums, h.Sum(nil))
				r := h.XOF()
				r.Read(make([]byte, 10))
			}
			if got := h.Sum(nil); !bytes.Equal(got, want) {
				t.Errorf("Sum after intermediate Sums = %x, want %x", got, want)
			}
			// An intermediate digest is the digest of that prefix.
			p := newH()
			p.Write(in[:9000])
			if !bytes.Equal(sums[0], p.Sum(nil)) {
				t.Errorf("intermediate Sum is not the digest of the prefix")
			}
		})
	}
}

func TestXOFIndependentOfLaterWrites(t *testing.T) {
	h := blake3.New()
	h.Write([]byte("abc"))
	r := h.XOF()
	first := make([]byte, 10)
	r.Read(first)
	h.Write(bytes.Repeat([]byte("x"), 50000))
	rest := make([]byte, 90)
	r.Read(rest)

	ref := blake3.New()
	ref.Write([]byte("abc"))
	if want := readXOF(t, ref, 100); !bytes.Equal(append(first, rest...), want) {
		t.Errorf("XOF changed after the hasher was written to")
	}
}

func TestReset(t *testing.T) {
	for name, newH := range newModes(t) {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{0, 100, 20000, 40000} {
				fresh := newH()
				fresh.Write([]byte("after reset"))
				want := fresh.Sum(nil)

				h := newH()
				h.Write(vectorInput(n))
				h.Reset()
				h.Write([]byte("after reset"))
				if got := h.Sum(nil); !bytes.Equal(got, want) {
					t.Errorf("after %d bytes and Reset: Sum = %x, want %x", n, got, want)
				}
			}
		})
	}
}

func TestCopy(t *testing.T) {
	h := blake3.New()
	h.Write(vectorInput(30000))
	c := *h
	c.Write([]byte("more"))
	h.Write([]byte("more"))
	if !bytes.Equal(c.Sum(nil), h.Sum(nil)) {
		t.Errorf("copied Hasher diverged")
	}
}

func TestSum256DoesNotAllocate(t *testing.T) {
	for _, n := range []int{0, 64, 1024, 16384, 1 << 20} {
		data := make([]byte, n)
		if a := testing.AllocsPerRun(10, func() { blake3.Sum256(data) }); a != 0 {
			t.Errorf("Sum256(%d bytes) allocates %v times", n, a)
		}
	}
}
