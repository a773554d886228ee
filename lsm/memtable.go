package lsm

// memtable holds the most recent writes in a skiplist until they are
// flushed to an SSTable. Its entries are also in the write-ahead log
// walNum, which may be deleted once the memtable is flushed.
//
// The mutable memtable has one writer at a time, the commit leader; once
// switched out it is immutable. Reads may run concurrently with the writer.
type memtable struct {
	sl     *skiplist
	walNum uint64
}

// entryOverhead bounds the node bytes one entry takes.
const entryOverhead = maxNodeBytes

func newMemtable(size int64, walNum uint64) *memtable {
	// The node arena is sized for entries of at least ~32 bytes of key
	// and value; smaller entries fill it first, which only switches the
	// memtable earlier. Untouched arena pages cost no memory.
	return &memtable{sl: newSkiplist(int(size), int(size)), walNum: walNum}
}

// fits reports whether batches of batchBytes encoded bytes holding n
// entries in total can be applied. Each entry's key gains an 8-byte
// trailer and loses at least a kind byte and a length byte of batch
// encoding.
func (m *memtable) fits(batchBytes, n int) bool {
	return m.sl.fits(batchBytes+trailerLen*n, n)
}

// apply adds a batch's entries with sequence numbers seq, seq+1, ...
// The batch must be well formed (it was built by Batch or checked by WAL
// replay) and must fit.
func (m *memtable) apply(data []byte) error {
	r, err := newBatchReader(data)
	if err != nil {
		return err
	}
	seq := r.seq
	for {
		k, key, value, ok := r.next()
		if !ok {
			break
		}
		m.sl.add(key, makeTrailer(seq, k), value)
		seq++
	}
	return r.err
}

// get returns the newest entry for ukey at or below seq.
func (m *memtable) get(ukey []byte, seq uint64) (value []byte, k kind, found bool) {
	n := m.sl.seekGE(ukey, makeTrailer(seq, kindMax), nil)
	if n == 0 {
		return nil, 0, false
	}
	ik := m.sl.key(n)
	if string(ik[:len(ik)-trailerLen]) != string(ukey) {
		return nil, 0, false
	}
	return m.sl.value(n), kind(trailerOf(ik) & 0xff), true
}

func (m *memtable) empty() bool { return m.sl.count.Load() == 0 }

// size returns the bytes used.
func (m *memtable) size() int64 { return m.sl.used.Load() }

func (m *memtable) newIter() *skiplistIter { return &skiplistIter{s: m.sl} }
