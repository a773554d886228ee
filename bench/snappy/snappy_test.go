// Package snappybench compares amaters-server's Snappy block codec
// (lsm/internal/snappy) with github.com/golang/snappy, the reference Go
// implementation: each side decodes what the other encodes, both judge
// the same hostile inputs and the package's test vectors alike, and
// their speed and compression ratio are measured side by side.
//
// The codec's package is internal to lsm/, so this module cannot import
// it; ours/ holds symbolic links to its source files, which compile here
// as package amaters-server/bench/snappy/ours. They are the same files,
// so there is no copy to fall behind.
//
//	cd bench && go test ./snappy/
//	cd bench && go test -run '^$' -bench . ./snappy/
//	cd bench && go test -run '^$' -bench . -tags noasm ./snappy/   # golang/snappy's pure-Go code
//	cd bench && go test -run '^$' -fuzz FuzzCrossDecode ./snappy/
package snappybench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	golang "github.com/golang/snappy"

	ours "amaters-server/bench/snappy/ours"
)

// testdata is the codec's test data directory.
var testdata = filepath.Join("..", "..", "lsm", "internal", "snappy", "testdata")

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// jsonLike returns n bytes of JSON records of the kind a key-value store
// holds: repeated field names, varying values.
func jsonLike(r *rand.Rand, n int) []byte {
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, `{"id":%d,"user":"user_%d","email":"u%d@example.com","active":%t,`+
			`"score":%.2f,"tags":["%s","%s"],"created":"2025-%02d-%02dT%02d:%02d:%02dZ"}`+"\n",
			100000+i, r.IntN(50000), r.IntN(50000), r.IntN(2) == 0, r.Float64()*100,
			words[r.IntN(len(words))], words[r.IntN(len(words))],
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
	}
	return b[:n]
}

func text(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join(testdata, "Isaac.Newton-Opticks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// corpus returns the cross-check inputs: text, JSON, random and
// repetitive data at sizes around the format's boundaries.
func corpus(t testing.TB) map[string][]byte {
	r := rand.New(rand.NewPCG(1, 1))
	txt := bytes.Repeat(text(t), 25)
	json := jsonLike(r, 400000)
	noise := randomBytes(r, 400000)
	c := map[string][]byte{"empty": {}}
	for _, n := range []int{1, 2, 3, 4, 15, 16, 17, 18, 60, 61, 100, 255, 256, 257, 1000, 4096,
		16384, 65535, 65536, 65537, 100000, 131072, 131073, 400000} {
		c[fmt.Sprintf("text%d", n)] = txt[:n]
		c[fmt.Sprintf("json%d", n)] = json[:n]
		c[fmt.Sprintf("random%d", n)] = noise[:n]
		c[fmt.Sprintf("run%d", n)] = bytes.Repeat([]byte{'z'}, n)
	}
	for _, p := range []int{1, 2, 3, 5, 8, 13, 64, 100, 2047, 2048, 5000, 40000} {
		c[fmt.Sprintf("period%d", p)] = bytes.Repeat(noise[:p], 1+200000/p)[:200000]
	}
	c["noise-then-text"] = append(append([]byte{}, noise[:150000]...), txt[:150000]...)
	return c
}

// TestOursToReference: golang/snappy decodes what we encode, and our
// encoding is no larger than its own. (Today it is the same, byte for
// byte: the two encoders make the same choices.)
func TestOursToReference(t *testing.T) {
	same := 0
	c := corpus(t)
	for name, src := range c {
		enc := ours.Encode(nil, src)
		dec, err := golang.Decode(nil, enc)
		if err != nil || !bytes.Equal(dec, src) {
			t.Errorf("%s: golang/snappy decodes our encoding: %v", name, err)
		}
		ref := golang.Encode(nil, src)
		if len(enc) > len(ref)+len(ref)/100 {
			t.Errorf("%s: %d bytes encode to %d here, %d by golang/snappy", name, len(src), len(enc), len(ref))
		}
		if bytes.Equal(enc, ref) {
			same++
		}
	}
	t.Logf("our encoding is byte for byte golang/snappy's for %d of %d inputs", same, len(c))
}

// TestReferenceToOurs: we decode what golang/snappy encodes.
func TestReferenceToOurs(t *testing.T) {
	for name, src := range corpus(t) {
		enc := golang.Encode(nil, src)
		dec, err := ours.Decode(nil, enc)
		if err != nil || !bytes.Equal(dec, src) {
			t.Errorf("%s: we decode golang/snappy's encoding: %v", name, err)
		}
		if n, err := ours.DecodedLen(enc); err != nil || n != len(src) {
			t.Errorf("%s: DecodedLen = %d, %v", name, n, err)
		}
	}
}

// TestRandomRoundTrips runs random inputs, with repeats spliced in at
// random distances, through both directions.
func TestRandomRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for i := range 2000 {
		src := mutated(r)
		if dec, err := golang.Decode(nil, ours.Encode(nil, src)); err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("input %d (%d bytes): ours -> golang/snappy: %v", i, len(src), err)
		}
		if dec, err := ours.Decode(nil, golang.Encode(nil, src)); err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("input %d (%d bytes): golang/snappy -> ours: %v", i, len(src), err)
		}
	}
}

// mutated returns random bytes of a random length with copies of earlier
// stretches spliced in, so that both encoders find matches of every
// length and distance.
func mutated(r *rand.Rand) []byte {
	n := r.IntN([]int{100, 5000, 70000, 200000}[r.IntN(4)])
	b := make([]byte, 0, n)
	for len(b) < n {
		if len(b) > 0 && r.IntN(2) == 0 {
			o := 1 + r.IntN(min(len(b), []int{8, 100, 3000, 70000}[r.IntN(4)]))
			for l := 1 + r.IntN(200); l > 0; l-- {
				b = append(b, b[len(b)-o])
			}
			continue
		}
		b = append(b, randomBytes(r, 1+r.IntN(80))...)
	}
	return b
}

// agree checks that the two decoders judge the block alike: both fail,
// or both give the same output. The exceptions are headers longer than
// they need to be, which we reject on purpose. golang/snappy allocates
// whatever length a header declares, so it only gets blocks that
// declare what they could produce.
func agree(t *testing.T, blk []byte) {
	t.Helper()
	got, err := ours.Decode(nil, blk)
	if _, herr := ours.DecodedLen(blk); herr != nil {
		if n, gerr := golang.DecodedLen(blk); gerr != nil || n > 64*len(blk) {
			return // both reject the header; golang/snappy would allocate n first
		}
	}
	want, werr := golang.Decode(nil, blk)
	if (err == nil) != (werr == nil) {
		if err != nil && werr == nil && overlongHeader(blk) {
			return
		}
		t.Fatalf("block % x...: ours %v, golang/snappy %v", blk[:min(len(blk), 16)], err, werr)
	}
	if err == nil && !bytes.Equal(got, want) {
		t.Fatalf("block % x...: the decoders differ", blk[:min(len(blk), 16)])
	}
}

func overlongHeader(blk []byte) bool {
	_, n := binary.Uvarint(blk)
	return n > 1 && blk[n-1] == 0
}

// TestHostileBlocks gives both decoders valid blocks with random damage.
func TestHostileBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for range 3000 {
		src := mutated(r)
		if len(src) > 20000 {
			src = src[:20000]
		}
		blk := golang.Encode(nil, src)
		for range 1 + r.IntN(4) {
			switch i := r.IntN(len(blk)); r.IntN(4) {
			case 0:
				blk[i] ^= byte(1 << r.IntN(8))
			case 1:
				blk[i] = byte(r.Uint32())
			case 2:
				blk = blk[:i]
			default:
				blk = append(blk, byte(r.Uint32()))
			}
			if len(blk) == 0 {
				break
			}
		}
		agree(t, blk)
	}
}

// TestVectors runs the codec's test vectors through golang/snappy too: it
// must agree with every verdict but the two "strict" ones.
func TestVectors(t *testing.T) {
	vs := readVectors(t)
	for _, v := range vs {
		if v.out != nil {
			got, err := golang.Decode(nil, v.in)
			if err != nil || !bytes.Equal(got, v.out) {
				t.Errorf("%s: golang/snappy: %v", v.name, err)
			}
			continue
		}
		if n, err := golang.DecodedLen(v.in); err == nil && n > 64*len(v.in) {
			continue // declares more than the block could hold; not worth an allocation
		}
		_, err := golang.Decode(nil, v.in)
		if v.strict && err != nil {
			t.Errorf("%s: golang/snappy rejects it (%v); the vector says it accepts it", v.name, err)
		}
		if !v.strict && err == nil {
			t.Errorf("%s: golang/snappy accepts it", v.name)
		}
		if _, err := ours.Decode(nil, v.in); err == nil {
			t.Errorf("%s: accepted", v.name)
		}
	}
	if len(vs) < 50 {
		t.Errorf("only %d vectors", len(vs))
	}
}

type vector struct {
	name    string
	in, out []byte
	strict  bool
}

// readVectors reads the codec's testdata/vectors.txt; its header
// describes the notation.
func readVectors(t *testing.T) []vector {
	f, err := os.Open(filepath.Join(testdata, "vectors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		key, val, _ := strings.Cut(line, ":")
		val = strings.TrimSpace(val)
		if key == "name" {
			vs = append(vs, vector{name: val})
			continue
		}
		if len(vs) == 0 {
			t.Fatalf("vectors.txt: %q before a name", line)
		}
		v := &vs[len(vs)-1]
		switch key {
		case "in", "out":
			b, err := parseBytes(val)
			if err != nil {
				t.Fatalf("vectors.txt: %s: %v", v.name, err)
			}
			if key == "in" {
				v.in = b
			} else {
				v.out = b
			}
		case "strict":
			v.strict = val == "yes"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func parseBytes(s string) ([]byte, error) {
	out := []byte{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		var tok []byte
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, err
			}
			u, _ := strconv.Unquote(q)
			tok, s = []byte(u), s[len(q):]
		} else {
			end := strings.IndexAny(s, " *")
			if end < 0 {
				end = len(s)
			}
			h, err := hex.DecodeString(s[:end])
			if err != nil {
				return nil, err
			}
			tok, s = h, s[end:]
		}
		count := 1
		if strings.HasPrefix(s, "*") {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			c, err := strconv.Atoi(s[1:end])
			if err != nil {
				return nil, err
			}
			count, s = c, s[end:]
		}
		out = append(out, bytes.Repeat(tok, count)...)
	}
	return out, nil
}

// FuzzCrossRoundTrip: each side decodes what the other encodes.
func FuzzCrossRoundTrip(f *testing.F) {
	f.Add([]byte("xababab"))
	f.Add(bytes.Repeat([]byte("0123456789"), 30))
	f.Add(text(f)[:3000])
	f.Fuzz(func(t *testing.T, src []byte) {
		if dec, err := golang.Decode(nil, ours.Encode(nil, src)); err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("ours -> golang/snappy: %v", err)
		}
		if dec, err := ours.Decode(nil, golang.Encode(nil, src)); err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("golang/snappy -> ours: %v", err)
		}
	})
}

// FuzzCrossDecode: the two decoders judge arbitrary blocks alike.
func FuzzCrossDecode(f *testing.F) {
	f.Add([]byte("\x07\x08xab\x01\x02"))
	f.Add([]byte("\x08\x0cabcd\x01\x05"))
	f.Add(golang.Encode(nil, text(f)[:3000]))
	f.Fuzz(func(t *testing.T, blk []byte) { agree(t, blk) })
}

// benchCorpora are the benchmark inputs: JSON-like records (what values
// in a key-value store often are), English text, and random bytes, at
// the default table block size and larger.
func benchCorpora(b *testing.B) []struct {
	name string
	data []byte
} {
	r := rand.New(rand.NewPCG(4, 4))
	json, noise, txt := jsonLike(r, 1<<20), randomBytes(r, 1<<20), text(b)
	return []struct {
		name string
		data []byte
	}{
		{"json/4K", json[:4<<10]},
		{"json/64K", json[:64<<10]},
		{"json/1M", json},
		{"text/4K", txt[:4<<10]},
		{"text/16K", txt},
		{"random/4K", noise[:4<<10]},
		{"random/1M", noise},
	}
}

type codec struct {
	name   string
	encode func(dst, src []byte) []byte
	decode func(dst, src []byte) ([]byte, error)
}

var codecs = []codec{
	{"amaters", ours.Encode, ours.Decode},
	{"golang", golang.Encode, golang.Decode},
}

// BenchmarkEncode reports MB/s of input and the compression ratio
// (encoded/original, smaller is better).
func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCorpora(b) {
		for _, k := range codecs {
			b.Run(c.name+"/"+k.name, func(b *testing.B) {
				dst := make([]byte, ours.MaxEncodedLen(len(c.data)))
				b.SetBytes(int64(len(c.data)))
				b.ReportAllocs()
				var n int
				for b.Loop() {
					n = len(k.encode(dst, c.data))
				}
				b.ReportMetric(float64(n)/float64(len(c.data)), "ratio")
			})
		}
	}
}

// BenchmarkDecode reports MB/s of output, each decoder on its own
// encoder's output.
func BenchmarkDecode(b *testing.B) {
	for _, c := range benchCorpora(b) {
		for _, k := range codecs {
			b.Run(c.name+"/"+k.name, func(b *testing.B) {
				blk := k.encode(nil, c.data)
				dst := make([]byte, len(c.data))
				b.SetBytes(int64(len(c.data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := k.decode(dst, blk); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
