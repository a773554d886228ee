package sstable

import "bytes"

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
