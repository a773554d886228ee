package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"amaters-server/lsm"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Keys; part of the on-disk format, never change.
const (
	entryPrefix = 'e'
	formatV1    = "1"
)

var (
	keyVersion   = []byte("m/version")
	keyHardState = []byte("m/hardstate")
	keySnapshot  = []byte("m/snapshot")
	keyOffset    = []byte("m/offset")
	keyLast      = []byte("m/last")
)

func entryKey(i uint64) []byte {
	k := make([]byte, 9)
	k[0] = entryPrefix
	binary.BigEndian.PutUint64(k[1:], i)
	return k
}

// Options configure Open. The zero value consists entirely of defaults.
type Options struct {
	// FS holds the files; nil means the operating system's.
	FS lsm.FS
	// Logger receives the lsm's background events; nil discards them.
	Logger *slog.Logger
	// MemtableSize is the lsm's memtable size; 0 means 4 MiB.
	MemtableSize int64
}

// Storage is a raft log stored in an lsm.DB. It implements raft.Storage.
// The zero value is not usable; call Open.
type Storage struct {
	db *lsm.DB

	mu        sync.RWMutex // guards the fields below and orders writes
	hardState *pb.HardState
	snapshot  *pb.Snapshot
	offset    uint64 // index of the entry before the first kept one
	offTerm   uint64 // its term
	last      uint64 // last index; offset when the log is empty
	closed    bool
}

var _ raft.Storage = (*Storage)(nil)

// Open opens or creates the raft log in dir.
func Open(dir string, opts Options) (*Storage, error) {
	db, err := lsm.Open(dir, lsm.Options{
		Sync:         lsm.SyncAlways,
		FS:           opts.FS,
		Logger:       opts.Logger,
		MemtableSize: opts.MemtableSize,
	})
	if err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	s := &Storage{db: db}
	if err := s.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

func (s *Storage) load() error {
	v, err := s.db.Get(keyVersion)
	if errors.Is(err, lsm.ErrNotFound) {
		it := s.db.NewIterator(nil, nil)
		nonEmpty := it.Next()
		if err := it.Close(); err != nil {
			return fmt.Errorf("raft log: %w", err)
		}
		if nonEmpty {
			return fmt.Errorf("%w: data without a version key", ErrFormat)
		}
		s.hardState = &pb.HardState{}
		s.snapshot = pb.EnsureSnapshot(nil)
		var b lsm.Batch
		b.Put(keyVersion, []byte(formatV1))
		return s.db.Apply(&b)
	}
	if err != nil {
		return fmt.Errorf("raft log version: %w", err)
	}
	if string(v) != formatV1 {
		return fmt.Errorf("%w: version %q", ErrFormat, v)
	}
	s.hardState = &pb.HardState{}
	if err := s.getProto(keyHardState, s.hardState); err != nil {
		return err
	}
	s.snapshot = &pb.Snapshot{}
	if err := s.getProto(keySnapshot, s.snapshot); err != nil {
		return err
	}
	s.snapshot = pb.EnsureSnapshot(s.snapshot)
	if b, err := s.db.Get(keyOffset); err == nil {
		if len(b) != 16 {
			return fmt.Errorf("%w: offset of %d bytes", ErrFormat, len(b))
		}
		s.offset = binary.BigEndian.Uint64(b)
		s.offTerm = binary.BigEndian.Uint64(b[8:])
	} else if !errors.Is(err, lsm.ErrNotFound) {
		return fmt.Errorf("raft log offset: %w", err)
	}
	s.last = s.offset
	if b, err := s.db.Get(keyLast); err == nil {
		if len(b) != 8 {
			return fmt.Errorf("%w: last index of %d bytes", ErrFormat, len(b))
		}
		s.last = binary.BigEndian.Uint64(b)
	} else if !errors.Is(err, lsm.ErrNotFound) {
		return fmt.Errorf("raft log last index: %w", err)
	}
	if s.last < s.offset {
		return fmt.Errorf("%w: last index %d below offset %d", ErrFormat, s.last, s.offset)
	}
	return nil
}

// getProto decodes key into m; an absent key leaves m as it is.
func (s *Storage) getProto(key []byte, m proto.Message) error {
	b, err := s.db.Get(key)
	if errors.Is(err, lsm.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raft log %s: %w", key, err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: decode %s: %v", ErrFormat, key, err)
	}
	return nil
}

// Close closes the underlying DB. It is idempotent.
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// InitialState returns the saved HardState and the ConfState of the
// latest snapshot.
func (s *Storage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	hs := proto.Clone(s.hardState).(*pb.HardState)
	cs := proto.Clone(pb.EnsureConfState(s.snapshot.GetMetadata().GetConfState())).(*pb.ConfState)
	return hs, cs, nil
}

// HardState returns the saved HardState.
func (s *Storage) HardState() *pb.HardState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return proto.Clone(s.hardState).(*pb.HardState)
}

// Entries returns the entries in [lo, hi), at least one and then as many
// as fit in maxSize bytes (of their protobuf encoding).
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if lo <= s.offset {
		return nil, raft.ErrCompacted
	}
	if hi > s.last+1 {
		return nil, fmt.Errorf("%w: entries [%d, %d) past last index %d", raft.ErrUnavailable, lo, hi, s.last)
	}
	if s.last == s.offset {
		return nil, raft.ErrUnavailable
	}
	if lo >= hi {
		return nil, nil
	}
	it := s.db.NewIterator(entryKey(lo), entryKey(hi))
	var ents []*pb.Entry
	var size uint64
	next := lo
	for it.Next() {
		e := &pb.Entry{}
		if err := proto.Unmarshal(it.Value(), e); err != nil {
			return nil, errors.Join(fmt.Errorf("%w: entry %x: %v", ErrFormat, it.Key(), err), it.Close())
		}
		if e.GetIndex() != next {
			return nil, errors.Join(fmt.Errorf("%w: entry %d where %d was expected", ErrFormat, e.GetIndex(), next), it.Close())
		}
		size += uint64(proto.Size(e))
		if len(ents) > 0 && size > maxSize {
			break
		}
		ents = append(ents, e)
		next++
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("raft log entries: %w", err)
	}
	if len(ents) == 0 || (next < hi && size <= maxSize) {
		return nil, fmt.Errorf("%w: entry %d missing", ErrFormat, next)
	}
	return ents, nil
}

// Term returns the term of entry i, for i in [FirstIndex()-1, LastIndex()].
func (s *Storage) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.termLocked(i)
}

// termLocked: s.mu must be held.
func (s *Storage) termLocked(i uint64) (uint64, error) {
	switch {
	case i < s.offset:
		return 0, raft.ErrCompacted
	case i == s.offset:
		return s.offTerm, nil
	case i > s.last:
		return 0, raft.ErrUnavailable
	}
	b, err := s.db.Get(entryKey(i))
	if err != nil {
		return 0, fmt.Errorf("raft log entry %d: %w", i, err)
	}
	e := &pb.Entry{}
	if err := proto.Unmarshal(b, e); err != nil {
		return 0, fmt.Errorf("%w: entry %d: %v", ErrFormat, i, err)
	}
	return e.GetTerm(), nil
}

// LastIndex returns the index of the last entry.
func (s *Storage) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last, nil
}

// FirstIndex returns the index of the first entry possibly available.
func (s *Storage) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.offset + 1, nil
}

// Snapshot returns the latest snapshot's metadata and Data.
func (s *Storage) Snapshot() (*pb.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return proto.Clone(s.snapshot).(*pb.Snapshot), nil
}

// SetHardState saves st.
func (s *Storage) SetHardState(st *pb.HardState) error {
	return s.Save(nil, st, nil)
}

// Append adds entries to the log, replacing any entries from the first
// one's index on (a conflicting suffix). Entries at or below the offset
// (compacted) are skipped.
func (s *Storage) Append(entries []*pb.Entry) error {
	return s.Save(nil, nil, entries)
}

// ApplySnapshot replaces the log by snap: every entry is dropped and the
// log continues after the snapshot's index. It returns
// raft.ErrSnapOutOfDate for a snapshot not newer than the current one.
func (s *Storage) ApplySnapshot(snap *pb.Snapshot) error {
	return s.Save(pb.EnsureSnapshot(snap), nil, nil)
}

// Save does what the Ready loop does with one Ready, in one durable
// batch: ApplySnapshot(snap) if snap is not nil, then SetHardState(st) if
// st is not nil, then Append(entries). One batch matters: raft refuses to
// restart from a HardState whose commit index is below the snapshot's.
func (s *Storage) Save(snap *pb.Snapshot, st *pb.HardState, entries []*pb.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b lsm.Batch
	offset, offTerm, last := s.offset, s.offTerm, s.last
	if snap != nil {
		cur := s.snapshot.GetMetadata().GetIndex()
		idx, term := snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
		if cur != 0 && cur >= idx {
			return raft.ErrSnapOutOfDate
		}
		if err := putProto(&b, keySnapshot, snap); err != nil {
			return err
		}
		for i := offset + 1; i <= last; i++ {
			b.Delete(entryKey(i))
		}
		offset, offTerm, last = idx, term, idx
		b.Put(keyOffset, offsetValue(idx, term))
		b.Put(keyLast, binary.BigEndian.AppendUint64(nil, idx))
	}
	if st != nil {
		if err := putProto(&b, keyHardState, st); err != nil {
			return err
		}
	}
	if len(entries) > 0 {
		first := entries[0].GetIndex()
		newLast := first + uint64(len(entries)) - 1
		if newLast > offset {
			if first <= offset {
				entries = entries[offset+1-first:]
				first = offset + 1
			}
			if first > last+1 {
				return fmt.Errorf("%w: append at %d after last index %d", ErrOutOfRange, first, last)
			}
			for i, e := range entries {
				if e.GetIndex() != first+uint64(i) {
					return fmt.Errorf("%w: entry %d at position of %d", ErrOutOfRange, e.GetIndex(), first+uint64(i))
				}
				if err := putProto(&b, entryKey(e.GetIndex()), e); err != nil {
					return err
				}
			}
			for i := newLast + 1; i <= last; i++ {
				b.Delete(entryKey(i))
			}
			last = newLast
			b.Put(keyLast, binary.BigEndian.AppendUint64(nil, last))
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := s.db.Apply(&b); err != nil {
		return fmt.Errorf("raft log save: %w", err)
	}
	if snap != nil {
		s.snapshot = proto.Clone(snap).(*pb.Snapshot)
	}
	if st != nil {
		s.hardState = proto.Clone(st).(*pb.HardState)
	}
	s.offset, s.offTerm, s.last = offset, offTerm, last
	return nil
}

// CreateSnapshot records a snapshot at index i (which must be in the
// log) with ConfState cs (kept from the previous snapshot when nil) and
// data, and returns it. It does not compact the log. It returns
// raft.ErrSnapOutOfDate if i is not above the current snapshot's index.
func (s *Storage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i <= s.snapshot.GetMetadata().GetIndex() {
		return nil, raft.ErrSnapOutOfDate
	}
	if i > s.last {
		return nil, fmt.Errorf("%w: snapshot at %d past last index %d", ErrOutOfRange, i, s.last)
	}
	term, err := s.termLocked(i)
	if err != nil {
		return nil, err
	}
	snap := proto.Clone(s.snapshot).(*pb.Snapshot)
	snap.Metadata.Index = new(i)
	snap.Metadata.Term = new(term)
	if cs != nil {
		snap.Metadata.ConfState = proto.Clone(cs).(*pb.ConfState)
	}
	snap.Data = data
	var b lsm.Batch
	if err := putProto(&b, keySnapshot, snap); err != nil {
		return nil, err
	}
	if err := s.db.Apply(&b); err != nil {
		return nil, fmt.Errorf("raft log create snapshot: %w", err)
	}
	s.snapshot = snap
	return proto.Clone(snap).(*pb.Snapshot), nil
}

// Compact drops the entries up to and including i; the term of i is kept
// for matching. It returns raft.ErrCompacted if i is at or below the
// current offset. The caller keeps i at or below the applied index and
// normally at or below the latest snapshot's index.
func (s *Storage) Compact(i uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i <= s.offset {
		return raft.ErrCompacted
	}
	if i > s.last {
		return fmt.Errorf("%w: compact %d past last index %d", ErrOutOfRange, i, s.last)
	}
	term, err := s.termLocked(i)
	if err != nil {
		return err
	}
	var b lsm.Batch
	for j := s.offset + 1; j <= i; j++ {
		b.Delete(entryKey(j))
	}
	b.Put(keyOffset, offsetValue(i, term))
	if err := s.db.Apply(&b); err != nil {
		return fmt.Errorf("raft log compact: %w", err)
	}
	s.offset, s.offTerm = i, term
	return nil
}

func offsetValue(i, term uint64) []byte {
	v := binary.BigEndian.AppendUint64(nil, i)
	return binary.BigEndian.AppendUint64(v, term)
}

func putProto(b *lsm.Batch, key []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	b.Put(key, v)
	return nil
}
