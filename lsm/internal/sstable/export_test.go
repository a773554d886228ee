package sstable

import (
	"bytes"
	"encoding/binary"
)

// TableWithDataBlock returns a table whose only data block has the given
// contents (with a valid CRC) and whose index points at it, for FuzzBlock.
func TableWithDataBlock(block []byte) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf, WriterOptions{Compare: bytes.Compare, BloomBitsPerKey: -1})
	h := w.writeBlock(block)
	w.pendingH = h
	w.pending = true
	w.lastKey = []byte("\xff\xff\xff\xff")
	w.props.NumEntries = 1
	w.Close()
	return buf.Bytes()
}

// BlockCompressions counts the data blocks of a table by their
// compression byte.
func BlockCompressions(table []byte) map[Compression]int {
	out := map[Compression]int{}
	f, err := decodeFooter(table[len(table)-FooterSize:], int64(len(table)-FooterSize))
	if err != nil {
		panic(err)
	}
	var it blockIter
	index := table[f.index.offset : f.index.offset+f.index.length]
	if err := it.init(bytes.Compare, index, int64(f.index.offset)); err != nil {
		panic(err)
	}
	for ok := it.first(); ok; ok = it.next() {
		off, n := binary.Uvarint(it.val)
		l, _ := binary.Uvarint(it.val[n:])
		out[Compression(table[off+l])]++
	}
	return out
}
