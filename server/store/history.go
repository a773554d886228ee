package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"amaters-server/lsm"
)

// EventKind is the kind of a change. Its values are part of the on-disk
// format (history events); never change them.
type EventKind uint8

// The kinds of events.
const (
	EventPut    EventKind = 1 // a PUT set the key
	EventDelete EventKind = 2 // a DELETE removed the key
	EventExpire EventKind = 3 // the expirer removed the expired key
)

func (k EventKind) String() string {
	switch k {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	case EventExpire:
		return "expire"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one committed change of one key. A revision's events are in
// the order of its request's ops. Value and ExpiresAt are set for a put
// only.
type Event struct {
	Revision   uint64
	Kind       EventKind
	Collection string
	Key        []byte
	Value      []byte
	ExpiresAt  time.Time
}

// History calls fn with every event of revision from or later, in
// revision order and within a revision in op order, as of one lsm
// snapshot, until fn returns false. It returns the oldest revision the
// history holds; when from is older, it returns a *CompactedError
// (ErrCompacted) and calls fn for nothing. A from past the current
// revision finds nothing. The events are the caller's.
//
// To read in pages, stop only at a revision boundary (return false from
// fn at the first event of a revision not to take yet) and continue from
// that revision, so that no revision is split.
func (s *Store) History(from uint64, fn func(Event) bool) (oldest uint64, err error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	snap := s.db.Snapshot()
	defer snap.Close()
	oldest = 1
	switch v, err := snap.Get(keyHistOldest); {
	case err == nil:
		if oldest, err = decodeU64(v); err != nil {
			return 0, corrupt("meta", keyHistOldest, err)
		}
	case !errors.Is(err, lsm.ErrNotFound):
		return 0, fmt.Errorf("store: history: %w", err)
	}
	if from < oldest {
		return oldest, &CompactedError{Oldest: oldest}
	}
	it := snap.NewIterator(appendHistKey(nil, from, 0), prefixEnd(prefixHistory))
	for it.Next() {
		rev, _, derr := decodeHistKey(it.Key())
		if derr != nil {
			err = corrupt("event", it.Key(), derr)
			break
		}
		kind, c, key, expMs, value, derr := decodeEvent(it.Value())
		if derr != nil {
			err = corrupt("event", it.Key(), derr)
			break
		}
		ev := Event{Revision: rev, Kind: kind, Collection: c, Key: bytes.Clone(key), ExpiresAt: fromMs(expMs)}
		if kind == EventPut {
			ev.Value = append([]byte{}, value...)
		}
		if !fn(ev) {
			break
		}
	}
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: history: %w", cerr)
	}
	return oldest, err
}

// TrimHistory deletes up to limit events (≤ 0: no bound) of the revisions
// that are no longer among the newest HistoryRevisions (all of them when
// HistoryRevisions is 0), and raises the oldest revision History serves
// in the same batch. It returns the number deleted. The background
// trimmer calls it every TrimInterval; it takes no revision.
//
// It finds the events outside the commit lock (no commit writes below
// the current revision) and holds the lock only to write, so that writes
// wait for one lsm batch at most.
func (s *Store) TrimHistory(limit int) (int, error) {
	s.trimMu.Lock()
	defer s.trimMu.Unlock()
	if s.closed.Load() {
		return 0, ErrClosed
	}
	rev := s.rev.Load()
	h := s.opts.HistoryRevisions
	var target uint64 // keep the revisions ≥ target
	switch {
	case h == 0:
		target = rev + 1
	case rev >= h:
		target = rev - h + 1
	default:
		return 0, nil
	}
	if s.trimFrom >= target {
		return 0, nil
	}
	b := &s.trimBatch
	defer b.Reset()
	it := s.db.NewIterator(appendHistKey(nil, s.trimFrom, 0), appendHistKey(nil, target, 0))
	n, last := 0, uint64(0)
	var err error
	for (limit <= 0 || n < limit) && it.Next() {
		r, _, derr := decodeHistKey(it.Key())
		if derr != nil {
			err = corrupt("event", it.Key(), derr)
			break
		}
		b.Delete(it.Key())
		n++
		last = r
	}
	finished := err == nil && !it.Next()
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: trim history: %w", cerr)
	}
	if err != nil {
		return 0, err
	}
	// A revision cut short keeps none of its events: it is no longer
	// served either.
	oldest, from := last+1, last
	if finished {
		oldest, from = target, target
	}

	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if s.commitClosed {
		return 0, ErrClosed
	}
	// With history off, commits raise "hist_oldest" too: never lower it.
	oldest = max(oldest, s.histOldest)
	if oldest != s.histOldest {
		b.Put(keyHistOldest, appendU64(nil, oldest))
	}
	if b.Len() > 0 {
		if err := s.db.Apply(b); err != nil {
			return 0, fmt.Errorf("store: trim history: %w", err)
		}
	}
	s.histOldest = oldest
	s.oldest.Store(oldest)
	s.trimFrom = from
	s.stats.trimmed.Add(uint64(n))
	return n, nil
}
