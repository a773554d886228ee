package record_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"amaters-server/lsm/internal/record"
)

func write(recs ...[]byte) []byte {
	var buf bytes.Buffer
	w := record.NewWriter(&buf, 0)
	for _, r := range recs {
		w.WriteRecord(r)
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func readAll(data []byte) ([][]byte, error) {
	r := record.NewReader(data)
	var out [][]byte
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(rec))
	}
}

func big(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		recs [][]byte
	}{
		{"empty file", nil},
		{"empty record", [][]byte{{}}},
		{"small", [][]byte{[]byte("foo"), []byte("bar"), {}, []byte("xxxx")}},
		{"fragmented", [][]byte{big(100000, 'a'), []byte("small"), big(3*record.BlockSize, 'b')}},
		{"exact block", [][]byte{big(record.BlockSize-record.HeaderSize, 'c'), []byte("next")}},
		{"marginal trailer", [][]byte{big(record.BlockSize-2*record.HeaderSize, 'd'), {}, []byte("after")}},
		{"trailer of 6 bytes", [][]byte{big(record.BlockSize-record.HeaderSize-6, 'e'), []byte("x")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(write(tc.recs...))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.recs) {
				t.Fatalf("read %d records, want %d", len(got), len(tc.recs))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.recs[i]) {
					t.Errorf("record %d differs (len %d vs %d)", i, len(got[i]), len(tc.recs[i]))
				}
			}
		})
	}
}

// TestDamage ports the cases of LevelDB's db/log_test.cc: each damages a
// log and states how many records survive and whether the failure is a
// torn tail (Truncated) or corruption.
func TestDamage(t *testing.T) {
	two := write([]byte("foo"), []byte("bar"))
	frag := write(big(2*record.BlockSize, 'x'), []byte("tail"))
	tests := []struct {
		name      string
		data      []byte
		wantRecs  int
		wantErr   bool
		truncated bool
	}{
		{"truncated trailing record is ignored", two[:len(two)-1], 1, true, true},
		{"truncated header", two[:len(two)-(record.HeaderSize+3)+2], 1, true, true},
		{"bad length at end", func() []byte {
			b := bytes.Clone(two)
			b[len(b)-3-3] = 0xff // length of the last chunk
			return b
		}(), 1, true, true},
		{"checksum mismatch", func() []byte {
			b := bytes.Clone(two)
			b[0] ^= 1
			return b
		}(), 0, true, false},
		{"payload flip in last record", func() []byte {
			b := bytes.Clone(two)
			b[len(b)-1] ^= 1
			return b
		}(), 1, true, false},
		{"unexpected middle type", func() []byte {
			b := write([]byte("foo"))
			b[6] = 3
			return fixCRC(b, 0)
		}(), 0, true, false},
		{"unexpected last type", func() []byte {
			b := write([]byte("foo"))
			b[6] = 4
			return fixCRC(b, 0)
		}(), 0, true, false},
		{"unexpected first type then full", func() []byte {
			b := write([]byte("foo"), []byte("bar"))
			b[6] = 2
			return fixCRC(b, 0)
		}(), 0, true, false},
		{"missing last is cut off", frag[:2*record.BlockSize], 0, true, true},
		{"partial last is ignored", frag[:len(frag)-2], 1, true, true},
		{"zeroed tail", append(bytes.Clone(two), make([]byte, 100)...), 2, true, true},
		{"zeroes then data", func() []byte {
			b := write([]byte("foo"), []byte("bar"), []byte("baz"))
			for i := 10; i < 20; i++ {
				b[i] = 0
			}
			return b
		}(), 1, true, false},
		{"unknown type", func() []byte {
			b := write([]byte("foo"))
			b[6] = 9
			return fixCRC(b, 0)
		}(), 0, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.data)
			if len(got) != tc.wantRecs {
				t.Errorf("read %d records before the error, want %d", len(got), tc.wantRecs)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ce *record.CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, record.ErrCorrupt) {
				t.Fatalf("err = %v, want *CorruptError", err)
			}
			if ce.Truncated != tc.truncated {
				t.Errorf("Truncated = %v, want %v (%v)", ce.Truncated, tc.truncated, err)
			}
		})
	}
}

// fixCRC recomputes the checksum of the chunk at off after a test edit.
func fixCRC(b []byte, off int) []byte {
	n := int(b[off+4]) | int(b[off+5])<<8
	c := record.MaskedCRC(b[off+6 : off+record.HeaderSize+n])
	b[off], b[off+1], b[off+2], b[off+3] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
	return b
}

func TestWriterOffset(t *testing.T) {
	var buf bytes.Buffer
	w := record.NewWriter(&buf, 0)
	w.WriteRecord([]byte(strings.Repeat("z", 40000)))
	if w.Pending() == 0 {
		t.Fatal("nothing staged")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != w.Offset() {
		t.Errorf("Offset %d, file %d", w.Offset(), buf.Len())
	}
}

func FuzzRecord(f *testing.F) {
	f.Add(write([]byte("foo"), []byte("bar")))
	f.Add(write(big(40000, 'q')))
	f.Add([]byte{})
	f.Add(make([]byte, 10))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Property 1: the reader never panics and returns only records
		// whose chunks verified.
		recs, _ := readAll(data)
		// Property 2: whatever it read round-trips through the writer.
		again, err := readAll(write(recs...))
		if err != nil || len(again) != len(recs) {
			t.Fatalf("round trip: %d records, %v", len(again), err)
		}
		for i := range recs {
			if !bytes.Equal(recs[i], again[i]) {
				t.Fatalf("record %d changed in round trip", i)
			}
		}
	})
}

func BenchmarkWriteRecord(b *testing.B) {
	w := record.NewWriter(io.Discard, 0)
	rec := big(128, 'r')
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		w.WriteRecord(rec)
		if w.Pending() > 1<<16 {
			w.Flush()
		}
	}
}
