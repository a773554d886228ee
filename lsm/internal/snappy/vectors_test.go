package snappy

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// vector is one entry of testdata/vectors.txt.
type vector struct {
	name, from string
	in, out    []byte
	err        error // nil for a valid block
	strict     bool  // valid for the reference decoders, rejected here
	line       int
}

// readVectors parses testdata/vectors.txt (its header describes the
// format).
func readVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "vectors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		vs  []vector
		cur *vector
		sc  = bufio.NewScanner(f)
		n   = 0
	)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("vectors.txt:%d: no key", n)
		}
		val = strings.TrimSpace(val)
		if key == "name" {
			vs = append(vs, vector{name: val, line: n})
			cur = &vs[len(vs)-1]
			continue
		}
		if cur == nil {
			t.Fatalf("vectors.txt:%d: %s before the first name", n, key)
		}
		switch key {
		case "from":
			cur.from = val
		case "in", "out":
			b, err := parseBytes(val)
			if err != nil {
				t.Fatalf("vectors.txt:%d: %v", n, err)
			}
			if key == "in" {
				cur.in = b
			} else {
				cur.out = b
			}
		case "err":
			if val != "corrupt" {
				t.Fatalf("vectors.txt:%d: unknown error %q", n, val)
			}
			cur.err = ErrCorrupt
		case "strict":
			cur.strict = val == "yes"
		default:
			t.Fatalf("vectors.txt:%d: unknown key %q", n, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.from == "" || v.in == nil || (v.err != nil) == (v.out != nil) {
			t.Fatalf("vectors.txt:%d: %s needs from, in, and one of out and err", v.line, v.name)
		}
	}
	return vs
}

// parseBytes reads the byte notation of vectors.txt: hex digit pairs and
// Go quoted strings, each optionally followed by *N.
func parseBytes(s string) ([]byte, error) {
	out := []byte{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		var tok []byte
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("bad string at %q", s)
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
				return nil, fmt.Errorf("bad hex %q", s[:end])
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
			if err != nil || c < 0 {
				return nil, fmt.Errorf("bad count %q", s[:end])
			}
			count, s = c, s[end:]
		}
		out = append(out, bytes.Repeat(tok, count)...)
	}
	return out, nil
}

func TestParseBytes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, ""},
		{`00`, "\x00"},
		{`0c "abcd" 01 04`, "\x0cabcd\x01\x04"},
		{`fe0100*2 "ab"*3 "a b"`, "\xfe\x01\x00\xfe\x01\x00abababa b"},
		{`"\x40"*2`, "@@"},
	} {
		got, err := parseBytes(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("parseBytes(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`0`, `zz`, `"abc`, `00*x`, `00*-1`} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) succeeded", bad)
		}
	}
}

// TestVectors decodes every vector, into a fresh slice and into a buffer
// with room to spare whose tail must stay untouched.
func TestVectors(t *testing.T) {
	vs := readVectors(t)
	if len(vs) < 50 {
		t.Fatalf("read %d vectors, expected more", len(vs))
	}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			got, err := Decode(nil, v.in)
			n, lerr := DecodedLen(v.in)
			if v.err != nil {
				if !errors.Is(err, v.err) {
					t.Fatalf("Decode: got %d bytes, err %v; want %v", len(got), err, v.err)
				}
				if got != nil {
					t.Errorf("Decode returned %d bytes with its error", len(got))
				}
				if lerr == nil {
					if _, err := Decode(make([]byte, n), v.in); err == nil {
						t.Errorf("Decode into a buffer of the decoded length succeeded")
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(got, v.out) {
				t.Fatalf("Decode: got %d bytes %s, want %d bytes %s", len(got), abbrev(got), len(v.out), abbrev(v.out))
			}
			if lerr != nil || n != len(v.out) {
				t.Errorf("DecodedLen = %d, %v; want %d", n, lerr, len(v.out))
			}
			if len(v.out) > 1<<20 {
				return
			}
			buf := bytes.Repeat([]byte{0xa5}, len(v.out)+64)
			got, err = Decode(buf, v.in)
			if err != nil || !bytes.Equal(got, v.out) {
				t.Fatalf("Decode into a buffer: got %s, %v", abbrev(got), err)
			}
			if &got[:1][0] != &buf[0] {
				t.Errorf("Decode did not use the buffer it was given")
			}
			for i, b := range buf[len(v.out):] {
				if b != 0xa5 {
					t.Fatalf("Decode wrote past the decoded length, at %d", len(v.out)+i)
				}
			}
			// The reference decoder of these tests agrees, and our
			// encoder's form of the output decodes back.
			if ref, err := refDecode(v.in); err != nil || !bytes.Equal(ref, v.out) {
				t.Errorf("refDecode: %s, %v", abbrev(ref), err)
			}
			roundTrip(t, v.out)
		})
	}
}

// TestGoldenReference decodes a file compressed by the reference C++
// encoder, and checks that our encoding of the same text is about as
// small.
func TestGoldenReference(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile(filepath.Join("testdata", "Isaac.Newton-Opticks.txt.rawsnappy"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(nil, ref)
	if err != nil || !bytes.Equal(got, text) {
		t.Fatalf("Decode of the reference encoding: %d bytes, %v", len(got), err)
	}
	enc := roundTrip(t, text)
	if len(enc) > len(ref)+len(ref)/50 {
		t.Errorf("encoded to %d bytes, the reference encoder to %d", len(enc), len(ref))
	}
	t.Logf("encoded %d bytes to %d; the reference encoder to %d", len(text), len(enc), len(ref))
}

// TestBadData checks that google/snappy's corrupt sample files fail, with
// a plausible declared length and without a panic.
func TestBadData(t *testing.T) {
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("baddata%d.snappy", i)))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := DecodedLen(b); err == nil && n >= 1<<20 {
			t.Errorf("baddata%d: DecodedLen = %d", i, n)
		}
		if out, err := Decode(nil, b); err != ErrCorrupt {
			t.Errorf("baddata%d: Decode = %d bytes, %v; want ErrCorrupt", i, len(out), err)
		}
	}
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q...", b[:40])
	}
	return fmt.Sprintf("%q", b)
}
