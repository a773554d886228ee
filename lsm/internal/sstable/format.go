package sstable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const (
	// Magic ends every table. Part of the on-disk format; never change.
	Magic uint64 = 0x616d61746572736c // "amatersl"
	// Version is the format version written in the footer.
	Version uint32 = 1
	// FooterSize is the size of the footer.
	FooterSize = 48
	// blockTrailerSize is the compression byte plus the CRC.
	blockTrailerSize = 5
)

// Compression is how a block's contents are stored: the block trailer's
// compression byte. Part of the on-disk format; never change.
type Compression byte

const (
	// NoCompression stores contents as they are.
	NoCompression Compression = 0
	// SnappyCompression stores contents as one Snappy block.
	SnappyCompression Compression = 1
)

// Metaindex names. Part of the on-disk format; never change.
const (
	metaFilter     = "filter.bloom"
	metaProperties = "properties"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func maskedCRC(parts ...[]byte) uint32 {
	var c uint32
	for _, p := range parts {
		c = crc32.Update(c, crcTable, p)
	}
	return (c>>15 | c<<17) + 0xa282ead8
}

// ErrCorrupt is wrapped by every *CorruptError.
var ErrCorrupt = errors.New("sstable: corrupt")

// CorruptError reports a check that failed Offset bytes into the table.
type CorruptError struct {
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("sstable: corrupt at offset %d: %s", e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// handle locates a block's contents.
type handle struct {
	offset, length uint64
}

func (h handle) append(b []byte) []byte {
	b = binary.AppendUvarint(b, h.offset)
	return binary.AppendUvarint(b, h.length)
}

func decodeHandle(b []byte) (handle, bool) {
	off, n := binary.Uvarint(b)
	if n <= 0 {
		return handle{}, false
	}
	l, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return handle{}, false
	}
	return handle{off, l}, true
}

type footer struct {
	metaindex, index handle
	version          uint32
}

func (f footer) encode() []byte {
	b := make([]byte, FooterSize)
	binary.LittleEndian.PutUint64(b[0:], f.metaindex.offset)
	binary.LittleEndian.PutUint64(b[8:], f.metaindex.length)
	binary.LittleEndian.PutUint64(b[16:], f.index.offset)
	binary.LittleEndian.PutUint64(b[24:], f.index.length)
	binary.LittleEndian.PutUint32(b[32:], f.version)
	binary.LittleEndian.PutUint32(b[36:], maskedCRC(b[:36]))
	binary.LittleEndian.PutUint64(b[40:], Magic)
	return b
}

func decodeFooter(b []byte, off int64) (footer, error) {
	if len(b) != FooterSize {
		return footer{}, &CorruptError{off, "short footer"}
	}
	if binary.LittleEndian.Uint64(b[40:]) != Magic {
		return footer{}, &CorruptError{off + 40, "bad magic"}
	}
	if binary.LittleEndian.Uint32(b[36:]) != maskedCRC(b[:36]) {
		return footer{}, &CorruptError{off, "footer checksum mismatch"}
	}
	f := footer{
		metaindex: handle{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])},
		index:     handle{binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:])},
		version:   binary.LittleEndian.Uint32(b[32:]),
	}
	if f.version != Version {
		return footer{}, &CorruptError{off + 32, fmt.Sprintf("unknown format version %d", f.version)}
	}
	return f, nil
}
