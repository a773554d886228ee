package sstable

import (
	"encoding/binary"
	"errors"
	"io"
	"sort"

	"amaters-server/lsm/internal/snappy"
)

// WriterOptions configures a Writer. Zero fields take defaults, except
// Compare, which is required.
type WriterOptions struct {
	// BlockSize is the target size of a data block; 0 means 4 KiB.
	BlockSize int
	// RestartInterval is the number of keys between restart points; 0
	// means 16.
	RestartInterval int
	// BloomBitsPerKey sizes the filter; 0 means 10, negative means no
	// filter.
	BloomBitsPerKey int
	// Compare orders keys. Keys must be added in increasing order.
	Compare func(a, b []byte) int
	// FilterKey maps a key to the bytes the bloom filter records; nil
	// means the whole key.
	FilterKey func(key []byte) []byte
	// Compression is how data blocks are stored: SnappyCompression
	// compresses each one that shrinks by at least an eighth; the zero
	// value, NoCompression, stores them as they are.
	Compression Compression
}

// Properties describe a finished table.
type Properties struct {
	NumEntries    uint64
	NumDataBlocks uint64
	RawKeySize    uint64
	RawValueSize  uint64
}

// Writer writes a table to an io.Writer. It is not safe for concurrent
// use. The caller owns the file: Close finishes the table but neither syncs
// nor closes the underlying writer.
type Writer struct {
	w        io.Writer
	opts     WriterOptions
	offset   uint64
	data     blockWriter
	index    blockWriter
	bloom    *bloomBuilder
	props    Properties
	lastKey  []byte
	pending  bool // a data block was finished and its index entry waits
	pendingH handle
	err      error
	closed   bool
	trailer  [blockTrailerSize]byte
	cbuf     []byte // compressed data block
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer, opts WriterOptions) *Writer {
	if opts.BlockSize <= 0 {
		opts.BlockSize = 4096
	}
	if opts.RestartInterval <= 0 {
		opts.RestartInterval = 16
	}
	if opts.BloomBitsPerKey == 0 {
		opts.BloomBitsPerKey = 10
	}
	if opts.FilterKey == nil {
		opts.FilterKey = func(k []byte) []byte { return k }
	}
	tw := &Writer{w: w, opts: opts}
	tw.data.restartInterval = opts.RestartInterval
	tw.index.restartInterval = 1
	if opts.BloomBitsPerKey > 0 {
		tw.bloom = &bloomBuilder{bitsPerKey: opts.BloomBitsPerKey}
	}
	return tw
}

// errOrder is returned by Add for keys out of order: a caller bug.
var errOrder = errors.New("sstable: keys added out of order")

// Add appends a key/value pair. Keys must be strictly increasing.
func (w *Writer) Add(key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.props.NumEntries > 0 && w.opts.Compare(key, w.lastKey) <= 0 {
		w.err = errOrder
		return w.err
	}
	if w.pending {
		w.index.add(w.lastKey, w.pendingH.append(nil))
		w.pending = false
	}
	if w.bloom != nil {
		w.bloom.add(w.opts.FilterKey(key))
	}
	w.data.add(key, value)
	w.lastKey = append(w.lastKey[:0], key...)
	w.props.NumEntries++
	w.props.RawKeySize += uint64(len(key))
	w.props.RawValueSize += uint64(len(value))
	if w.data.estimatedSize() >= w.opts.BlockSize {
		w.flushData()
	}
	return w.err
}

// EstimatedSize returns the bytes written so far plus the open block.
func (w *Writer) EstimatedSize() uint64 {
	return w.offset + uint64(w.data.estimatedSize())
}

// NumEntries returns the number of keys added.
func (w *Writer) NumEntries() uint64 { return w.props.NumEntries }

func (w *Writer) flushData() {
	if w.data.entries == 0 {
		return
	}
	w.pendingH = w.writeDataBlock(w.data.finish())
	w.pending = true
	w.props.NumDataBlocks++
	w.data.reset()
}

// writeDataBlock writes a data block, compressed if the options ask for
// it and it pays: by at least an eighth, as LevelDB requires.
func (w *Writer) writeDataBlock(b []byte) handle {
	if w.opts.Compression == SnappyCompression {
		if need := snappy.MaxEncodedLen(len(b)); need >= 0 {
			if cap(w.cbuf) < need {
				w.cbuf = make([]byte, need)
			}
			if c := snappy.Encode(w.cbuf[:need], b); len(c) < len(b)-len(b)/8 {
				return w.writeBlockAs(c, SnappyCompression)
			}
		}
	}
	return w.writeBlockAs(b, NoCompression)
}

func (w *Writer) writeBlock(b []byte) handle { return w.writeBlockAs(b, NoCompression) }

// writeBlockAs writes stored contents b with compression byte c.
func (w *Writer) writeBlockAs(b []byte, c Compression) handle {
	h := handle{w.offset, uint64(len(b))}
	if w.err != nil {
		return h
	}
	w.trailer[0] = byte(c)
	binary.LittleEndian.PutUint32(w.trailer[1:], maskedCRC(b, w.trailer[:1]))
	if _, err := w.w.Write(b); err != nil {
		w.err = err
		return h
	}
	if _, err := w.w.Write(w.trailer[:]); err != nil {
		w.err = err
		return h
	}
	w.offset += uint64(len(b)) + blockTrailerSize
	return h
}

// Close writes the remaining blocks and the footer and returns the table's
// properties. It does not close the underlying writer.
func (w *Writer) Close() (Properties, error) {
	if w.closed {
		return w.props, w.err
	}
	w.closed = true
	w.flushData()
	if w.pending {
		w.index.add(w.lastKey, w.pendingH.append(nil))
		w.pending = false
	}
	meta := map[string]handle{}
	if w.bloom != nil {
		meta[metaFilter] = w.writeBlock(w.bloom.finish())
	}
	var pb blockWriter
	pb.restartInterval = 16
	for _, p := range []struct {
		name string
		v    uint64
	}{
		{"num.data.blocks", w.props.NumDataBlocks},
		{"num.entries", w.props.NumEntries},
		{"raw.key.size", w.props.RawKeySize},
		{"raw.value.size", w.props.RawValueSize},
	} {
		pb.add([]byte(p.name), binary.AppendUvarint(nil, p.v))
	}
	meta[metaProperties] = w.writeBlock(pb.finish())
	var mb blockWriter
	mb.restartInterval = 1
	names := make([]string, 0, len(meta))
	for n := range meta {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mb.add([]byte(n), meta[n].append(nil))
	}
	f := footer{version: Version}
	f.metaindex = w.writeBlock(mb.finish())
	f.index = w.writeBlock(w.index.finish())
	if w.err == nil {
		if _, err := w.w.Write(f.encode()); err != nil {
			w.err = err
		}
		w.offset += FooterSize
	}
	return w.props, w.err
}
