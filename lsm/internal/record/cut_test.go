package record

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestCutAndZeroFill writes records of sizes around the block and
// header boundaries, cuts the file at every offset and also pads each cut
// with zeroes (a preallocated log): the reader must return a prefix of
// the records and then EOF or a Truncated error, Zeroed exactly when the
// cut falls between records.
func TestCutAndZeroFill(t *testing.T) {
	var recs [][]byte
	var buf bytes.Buffer
	w := NewWriter(&buf, 0)
	ends := map[int]bool{0: true}
	for i, n := range []int{1, BlockSize - 2*HeaderSize - 1, 0, 3, BlockSize, 5, BlockSize - HeaderSize - 9, 2, 40000} {
		p := bytes.Repeat([]byte{byte(i + 1)}, n)
		recs = append(recs, p)
		w.WriteRecord(p)
		w.Flush()
		ends[buf.Len()] = true
	}
	data := buf.Bytes()
	for cut := 0; cut <= len(data); cut++ {
		for _, pad := range []int{0, BlockSize + 100} {
			d := data[:cut:cut]
			if pad > 0 {
				if !near(ends, cut) {
					continue
				}
				d = append(bytes.Clone(d), make([]byte, pad)...)
			}
			r := NewReader(d)
			i := 0
			var err error
			for {
				var rec []byte
				rec, err = r.Next()
				if err != nil {
					break
				}
				if i >= len(recs) || !bytes.Equal(rec, recs[i]) {
					t.Fatalf("cut %d pad %d: record %d wrong", cut, pad, i)
				}
				i++
			}
			if err == io.EOF {
				if pad == 0 && !ends[cut] && cut%BlockSize < BlockSize-HeaderSize+1 {
					// EOF is right only at a record end (or in block filler).
					t.Fatalf("cut %d pad %d: EOF after %d records", cut, pad, i)
				}
				continue
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("cut %d pad %d: %v", cut, pad, err)
			}
			if pad == 0 && !ce.Truncated {
				t.Fatalf("cut %d: %v after %d records, want Truncated", cut, err, i)
			}
			if pad > 0 {
				// A torn chunk followed by zeroes is a checksum error for
				// the WAL's tornCopy to judge; Zeroed must mean exactly
				// "cut between records".
				if ce.Zeroed != ends[cut] {
					t.Fatalf("cut %d pad %d: Zeroed=%v, record end %v (%v)", cut, pad, ce.Zeroed, ends[cut], err)
				}
			}
		}
	}
}

// near reports whether cut lies within a chunk header of a record end.
func near(ends map[int]bool, cut int) bool {
	for d := -HeaderSize; d <= HeaderSize; d++ {
		if ends[cut+d] {
			return true
		}
	}
	return false
}
