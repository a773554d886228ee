package snappy

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder: it must not panic,
// must agree with refDecode on whether they are a valid block and on the
// output, and DecodedLen and DecodeLimit must agree with it.
//
//	go test ./lsm/internal/snappy -run '^$' -fuzz FuzzDecode
func FuzzDecode(f *testing.F) {
	for _, v := range readVectors(f) {
		if len(v.in) <= 1<<16 {
			f.Add(v.in)
		}
	}
	f.Add(Encode(nil, opticks(f)))
	f.Fuzz(func(t *testing.T, in []byte) {
		n, lerr := DecodedLen(in)
		out, err := Decode(nil, in)
		ref, rerr := refDecode(in)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Decode: %v; refDecode: %v", err, rerr)
		}
		if err != nil {
			if err != ErrCorrupt || out != nil {
				t.Fatalf("Decode failed with %v and %d bytes", err, len(out))
			}
			return
		}
		if !bytes.Equal(out, ref) {
			t.Fatalf("Decode and refDecode differ at %d", firstDiff(out, ref))
		}
		if lerr != nil || n != len(out) {
			t.Fatalf("DecodedLen = %d, %v; Decode gave %d bytes", n, lerr, len(out))
		}
		// Into a buffer with room to spare: the same, and nothing
		// written past the decoded length.
		buf := bytes.Repeat([]byte{0xa5}, n+9)
		if got, err := Decode(buf, in); err != nil || !bytes.Equal(got, out) {
			t.Fatalf("Decode into a buffer: %v", err)
		}
		if bytes.Count(buf[n:], []byte{0xa5}) != 9 {
			t.Fatalf("Decode wrote past the decoded length")
		}
		if _, err := DecodeLimit(nil, in, n); err != nil {
			t.Fatalf("DecodeLimit at the length: %v", err)
		}
		if _, err := DecodeLimit(nil, in, n-1); err != ErrTooLarge {
			t.Fatalf("DecodeLimit below the length: %v", err)
		}
	})
}

// FuzzRoundTrip encodes arbitrary bytes and checks that they decode back,
// within the size bounds. (bench/snappy has the same target against
// github.com/golang/snappy's decoder.)
//
//	go test ./lsm/internal/snappy -run '^$' -fuzz FuzzRoundTrip
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("a"))
	f.Add([]byte("xababab"))
	f.Add(bytes.Repeat([]byte("a"), 100))
	f.Add(bytes.Repeat([]byte("0123456789"), 30))
	f.Add(opticks(f)[:2000])
	f.Fuzz(func(t *testing.T, in []byte) {
		roundTrip(t, in)
	})
}
