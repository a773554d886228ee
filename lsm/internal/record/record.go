package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Chunk types. Part of the on-disk format; never change.
const (
	typeZero   = 0 // filler, never written as a chunk
	typeFull   = 1
	typeFirst  = 2
	typeMiddle = 3
	typeLast   = 4
)

const (
	// BlockSize is the size of a block. Part of the on-disk format.
	BlockSize = 32 * 1024
	// HeaderSize is the size of a chunk header. Part of the on-disk format.
	HeaderSize = 7
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maskDelta is LevelDB's CRC mask constant: storing a masked CRC avoids a
// pathological case when CRCs of data that itself contains CRCs are taken.
const maskDelta = 0xa282ead8

// MaskedCRC returns the masked CRC-32C of b, the form stored on disk.
func MaskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, crcTable)
	return (c>>15 | c<<17) + maskDelta
}

// typeCRC holds the CRC-32C of each one-byte chunk type, the start of
// every chunk's checksum. Read-only.
var typeCRC = func() (t [256]uint32) {
	for i := range t {
		t[i] = crc32.Update(0, crcTable, []byte{byte(i)})
	}
	return t
}()

func chunkCRC(typ byte, payload []byte) uint32 {
	c := crc32.Update(typeCRC[typ], crcTable, payload)
	return (c>>15 | c<<17) + maskDelta
}

// ErrCorrupt is wrapped by every *CorruptError.
var ErrCorrupt = errors.New("record: corrupt chunk")

// CorruptError reports a chunk that failed a check, at Offset bytes into
// the file.
type CorruptError struct {
	Offset int64
	Reason string
	// Truncated is set when the file simply ends early: a chunk or record
	// is cut off by the end of the file, or only zeroes remain. That is
	// what a crash during an append leaves; any other failure is damage.
	Truncated bool
	// Zeroed is set when only zeroes remain from Offset on, with no
	// record left open: the unused, preallocated end of a log, which is a
	// clean end rather than a cut-off one.
	Zeroed bool
	// ZeroHeader is set when zero bytes stand where a chunk header should
	// start (with Zeroed, Truncated, or neither when something else
	// follows). A file appended with write(2) never holds such a header:
	// every block it has begun starts with a chunk header, whose type is
	// never zero.
	ZeroHeader bool
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("record: corrupt chunk at offset %d: %s", e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Writer appends records to an underlying io.Writer. Records are staged in
// memory by WriteRecord and reach the io.Writer, in one Write call, at
// Flush; this is what lets the WAL's group commit issue one write for many
// batches. A Writer is not safe for concurrent use.
type Writer struct {
	w      io.Writer
	buf    []byte // staged bytes not yet written to w
	offset int64  // logical file offset of the end of buf
}

// NewWriter returns a Writer that appends to w, which already holds
// offset bytes (0 for a new file).
func NewWriter(w io.Writer, offset int64) *Writer {
	return &Writer{w: w, offset: offset}
}

// WriteRecord stages one record.
func (w *Writer) WriteRecord(p []byte) {
	first := true
	for {
		left := BlockSize - int(w.offset%BlockSize)
		if left < HeaderSize {
			w.buf = append(w.buf, make([]byte, left)...)
			w.offset += int64(left)
			left = BlockSize
		}
		n := min(len(p), left-HeaderSize)
		last := n == len(p)
		var typ byte
		switch {
		case first && last:
			typ = typeFull
		case first:
			typ = typeFirst
		case last:
			typ = typeLast
		default:
			typ = typeMiddle
		}
		var h [HeaderSize]byte
		binary.LittleEndian.PutUint32(h[0:4], chunkCRC(typ, p[:n]))
		binary.LittleEndian.PutUint16(h[4:6], uint16(n))
		h[6] = typ
		w.buf = append(w.buf, h[:]...)
		w.buf = append(w.buf, p[:n]...)
		w.offset += int64(HeaderSize + n)
		p = p[n:]
		first = false
		if last {
			return
		}
	}
}

// Pending returns the number of staged bytes.
func (w *Writer) Pending() int { return len(w.buf) }

// Offset returns the file size once all staged records are flushed.
func (w *Writer) Offset() int64 { return w.offset }

// Flush writes all staged records to the underlying writer. On error the
// staged bytes are dropped: the file's tail is then unknown and the caller
// must stop using it.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Reader reads records from a byte slice holding a whole file. Logs are
// read only at recovery, and a whole log fits in memory because it never
// holds more than a memtable.
type Reader struct {
	data     []byte
	off      int // offset of the next chunk
	rec      []byte
	recStart int64
}

// NewReader returns a Reader over data.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Next returns the next record, io.EOF at a clean end, or a *CorruptError.
// A short chunk at the very end (a write cut off by a crash) is a
// *CorruptError too; the record returned is valid until the next call.
func (r *Reader) Next() ([]byte, error) {
	r.rec = r.rec[:0]
	inRecord := false
	for {
		blockLeft := BlockSize - r.off%BlockSize
		if blockLeft < HeaderSize {
			r.off += blockLeft
			continue
		}
		if r.off >= len(r.data) {
			if inRecord {
				return nil, &CorruptError{Offset: int64(len(r.data)), Reason: "record cut off at end of file", Truncated: true}
			}
			return nil, io.EOF
		}
		if len(r.data)-r.off < HeaderSize {
			return nil, &CorruptError{Offset: int64(r.off), Reason: "truncated chunk header", Truncated: true}
		}
		h := r.data[r.off : r.off+HeaderSize]
		size := int(binary.LittleEndian.Uint16(h[4:6]))
		typ := h[6]
		if typ == typeZero && size == 0 && binary.LittleEndian.Uint32(h[0:4]) == 0 {
			// Zeroes where a chunk should start: preallocated or lost
			// space. The caller decides whether anything valid follows.
			zero := allZero(r.data[r.off:])
			return nil, &CorruptError{Offset: int64(r.off), Reason: "zeroed chunk header", Truncated: zero, Zeroed: zero && !inRecord, ZeroHeader: true}
		}
		if HeaderSize+size > blockLeft {
			return nil, &CorruptError{Offset: int64(r.off), Reason: "chunk crosses block boundary"}
		}
		if r.off+HeaderSize+size > len(r.data) {
			return nil, &CorruptError{Offset: int64(r.off), Reason: "truncated chunk payload", Truncated: true}
		}
		payload := r.data[r.off+HeaderSize : r.off+HeaderSize+size]
		if binary.LittleEndian.Uint32(h[0:4]) != chunkCRC(typ, payload) {
			return nil, &CorruptError{Offset: int64(r.off), Reason: "checksum mismatch"}
		}
		chunkOff := r.off
		r.off += HeaderSize + size
		switch typ {
		case typeFull:
			if inRecord {
				return nil, &CorruptError{Offset: int64(chunkOff), Reason: "full chunk inside a record"}
			}
			r.recStart = int64(chunkOff)
			return payload, nil
		case typeFirst:
			if inRecord {
				return nil, &CorruptError{Offset: int64(chunkOff), Reason: "first chunk inside a record"}
			}
			inRecord = true
			r.recStart = int64(chunkOff)
			r.rec = append(r.rec, payload...)
		case typeMiddle:
			if !inRecord {
				return nil, &CorruptError{Offset: int64(chunkOff), Reason: "middle chunk outside a record"}
			}
			r.rec = append(r.rec, payload...)
		case typeLast:
			if !inRecord {
				return nil, &CorruptError{Offset: int64(chunkOff), Reason: "last chunk outside a record"}
			}
			r.rec = append(r.rec, payload...)
			return r.rec, nil
		default:
			return nil, &CorruptError{Offset: int64(chunkOff), Reason: fmt.Sprintf("unknown chunk type %d", typ)}
		}
	}
}

// Offset returns the offset just past the last chunk consumed, which after
// a successful Next is the end of that record.
func (r *Reader) Offset() int64 { return int64(r.off) }

// RecordOffset returns the offset of the first chunk of the record last
// returned by Next.
func (r *Reader) RecordOffset() int64 { return r.recStart }

// ChunkEnd returns the offset just past the chunk that starts at off in
// data, as its header declares it, or off+HeaderSize when the header is
// cut off or declares a chunk that does not fit in its block.
func ChunkEnd(data []byte, off int64) int64 {
	if off < 0 || off+HeaderSize > int64(len(data)) {
		return off + HeaderSize
	}
	size := int64(binary.LittleEndian.Uint16(data[off+4 : off+6]))
	if blockLeft := BlockSize - off%BlockSize; HeaderSize+size > blockLeft {
		return off + HeaderSize
	}
	return off + HeaderSize + size
}

// ZeroTail returns the offset at which data's trailing run of zero bytes
// begins (len(data) if it ends with a non-zero byte).
func ZeroTail(data []byte) int64 {
	i := len(data)
	for i > 0 && data[i-1] == 0 {
		i--
	}
	return int64(i)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
