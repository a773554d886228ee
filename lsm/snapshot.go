package lsm

import "slices"

// Snapshot is a consistent, read-only view of a DB at one point in time.
//
// A Snapshot is safe for concurrent use by its methods, but Close must not
// race with them. Close it when done: an open snapshot keeps compactions
// from discarding the old values it can see.
type Snapshot struct {
	d      *DB
	seq    uint64
	closed bool
}

// Get returns the value key had when the snapshot was taken, or
// ErrNotFound.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	if s.closed {
		return nil, ErrClosed
	}
	return s.d.get(key, s.seq)
}

// NewIterator returns an iterator over [lo, hi) as of the snapshot.
func (s *Snapshot) NewIterator(lo, hi []byte) *Iterator {
	if s.closed {
		return &Iterator{d: s.d, closed: true, err: ErrClosed}
	}
	return s.d.newIterator(lo, hi, s.seq)
}

// Close releases the snapshot. A second Close returns ErrClosed.
func (s *Snapshot) Close() error {
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	d := s.d
	d.mu.Lock()
	if i := slices.Index(d.snaps, s); i >= 0 {
		d.snaps = slices.Delete(d.snaps, i, i+1)
	}
	d.mu.Unlock()
	return nil
}
