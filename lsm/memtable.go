package lsm

import "sync/atomic"

// memtable holds the most recent writes in a skiplist until they are
// flushed to an SSTable. Its entries are also in the write-ahead log
// walNum, which may be deleted once the memtable is flushed.
//
// The mutable memtable has one writer at a time, the commit group whose
// apply turn it is (see applyInTurn in wal.go); once switched out it is
// immutable. Reads may run concurrently with the writer.
type memtable struct {
	sl     *skiplist
	walNum uint64

	// Room promised to batches. The commit leader (or recovery)
	// reserves room for a group before handing the memtable write to
	// the group's applier, so that the next leader can check for room
	// while that apply is still running (see wal.go); the applier then
	// gives back what the group did not use. resData and resWords bound
	// the skiplist's dlen and nlen, and equal them when no apply is
	// pending.
	resData  atomic.Int64
	resWords atomic.Int64
	reserved bool // anything was ever reserved; leader only
}

// entryOverhead bounds the node bytes one entry takes.
const entryOverhead = maxNodeBytes

func newMemtable(size int64, walNum uint64) *memtable {
	return &memtable{sl: newMemtableSkiplist(size), walNum: walNum}
}

// newMemtableSkiplist returns the empty skiplist of a memtable of size
// bytes.
func newMemtableSkiplist(size int64) *skiplist {
	// The node room is sized for entries of at least ~32 bytes of key
	// and value; smaller entries fill it first, which only switches the
	// memtable earlier. Both arenas grow in chunks as entries arrive, so
	// the rooms are limits, not allocations.
	return newSkiplist(int(size), int(size))
}

// fits reports whether batches of batchBytes encoded bytes holding n
// entries in total can be applied. Each entry's key gains an 8-byte
// trailer and loses at least a kind byte and a length byte of batch
// encoding.
func (m *memtable) fits(batchBytes, n int) bool {
	data, words := batchBytes+trailerLen*n, n*(nodeNext+maxHeight)
	return dlen0+int(m.resData.Load())+data <= m.sl.dataCap &&
		nlen0+int(m.resWords.Load())+words <= m.sl.nodeCap
}

// reservation is room reserved in a memtable, and where its apply began.
type reservation struct {
	data, words int
	dlen, nlen  int // the skiplist's, when the apply began
}

// reserve records that batches of batchBytes encoded bytes holding n
// entries will be applied; fits must have said they fit. Leader only.
func (m *memtable) reserve(batchBytes, n int) reservation {
	r := reservation{data: batchBytes + trailerLen*n, words: n * (nodeNext + maxHeight)}
	m.resData.Add(int64(r.data))
	m.resWords.Add(int64(r.words))
	m.reserved = true
	return r
}

// beginApply notes where the apply of the batches reserved by r begins.
// The memtable's writer only, that is the applier whose turn it is.
func (m *memtable) beginApply(r *reservation) {
	r.dlen, r.nlen = m.sl.dlen, m.sl.nlen
}

// endApply gives back the room reserved by r that its batches did not
// use. The memtable's writer only, after applying them.
func (m *memtable) endApply(r *reservation) {
	m.resData.Add(-int64(r.data - (m.sl.dlen - r.dlen)))
	m.resWords.Add(-int64(r.words - (m.sl.nlen - r.nlen)))
}

// unused reports whether no batch was ever reserved room in m, so that
// m holds no entry and no apply to it is pending. Leader only.
func (m *memtable) unused() bool { return !m.reserved }

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
