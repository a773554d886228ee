package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"amaters-server/lsm"
)

// Entry is a key's value with its mod revision (the revision of the
// write that last set it) and expiry (zero: none, else in UTC, to the
// millisecond). Its Value is the caller's.
type Entry struct {
	Value       []byte
	ModRevision uint64
	ExpiresAt   time.Time
}

// Item is one key of a Range page.
type Item struct {
	Key []byte
	Entry
}

// Get returns the entry of key in collection c, and a revision at which
// that answer was the state of the database. It returns ErrNotFound when
// the key is absent, or expired at now.
//
// The revision costs no extra read in the common case. For a hit: r, the
// published revision read before the lookup, is visible in lsm before it
// is published, so the lookup saw a state of some revision R ≥ r; the
// value was set at its mod revision m ≤ R and is still current at R, so
// it is current at every revision in [m, R], which holds max(r, m). For a
// miss there is no m: the answer is r exactly when no group was being
// applied at any moment between reading r and the end of the lookup,
// which a sequence counter (odd while a group is in lsm) shows; otherwise
// Get reads the key and the "rev" meta key again in one lsm snapshot.
//
// Each answer's revision is exact for that answer, which is what a read
// followed by a watch from the next revision needs; but while a group is
// being published, a hit on one of its keys may report its revision just
// before another read reports the one below it.
func (s *Store) Get(c string, key []byte, now time.Time) (Entry, uint64, error) {
	if s.closed.Load() {
		return Entry{}, 0, ErrClosed
	}
	if len(c) == 0 || len(c) > maxCollectionLen {
		return Entry{}, 0, fmt.Errorf("%w: collection name of %d bytes", ErrInvalid, len(c))
	}
	// lsm keeps no reference to the key, but its Get makes it escape:
	// one allocation of the exact size.
	dk := appendDataKey(make([]byte, 0, 1+len(c)+len(key)), c, key)
	seq := s.seq.Load()
	r := s.rev.Load()
	v, err := s.db.Get(dk)
	switch {
	case err == nil:
		e, err := decodeEntry(dk, v)
		if err != nil {
			return Entry{}, 0, err
		}
		if !expiredAt(toMs(e.ExpiresAt), toMs(now)) {
			return e, max(r, e.ModRevision), nil
		}
		// Expired at now: absent, at the revisions where the value is
		// current.
		return Entry{}, max(r, e.ModRevision), ErrNotFound
	case errors.Is(err, lsm.ErrNotFound):
		if seq&1 == 0 && s.seq.Load() == seq {
			return Entry{}, r, ErrNotFound
		}
	default:
		return Entry{}, 0, fmt.Errorf("store: get: %w", err)
	}
	snap := s.db.Snapshot()
	defer snap.Close()
	r, err = snapRev(snap)
	if err != nil {
		return Entry{}, 0, err
	}
	v, err = snap.Get(dk)
	switch {
	case err == nil:
		e, err := decodeEntry(dk, v)
		if err != nil {
			return Entry{}, 0, err
		}
		if expiredAt(toMs(e.ExpiresAt), toMs(now)) {
			return Entry{}, r, ErrNotFound
		}
		return e, r, nil
	case errors.Is(err, lsm.ErrNotFound):
		return Entry{}, r, ErrNotFound
	default:
		return Entry{}, 0, fmt.Errorf("store: get: %w", err)
	}
}

// decodeEntry decodes the envelope v of data key dk; the entry's value
// aliases v.
func decodeEntry(dk, v []byte) (Entry, error) {
	modRev, expMs, value, err := decodeEnvelope(v)
	if err != nil {
		return Entry{}, corrupt("envelope", dk, err)
	}
	return Entry{Value: value, ModRevision: modRev, ExpiresAt: fromMs(expMs)}, nil
}

// snapRev reads the database revision in snap.
func snapRev(snap *lsm.Snapshot) (uint64, error) {
	v, err := snap.Get(keyRev)
	if errors.Is(err, lsm.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read revision: %w", err)
	}
	r, err := decodeU64(v)
	if err != nil {
		return 0, corrupt("meta", keyRev, err)
	}
	return r, nil
}

// Range returns the live keys of collection c in [start, end) (a nil
// start or end is unbounded), in key order, read from one lsm snapshot,
// and rev, the revision of that snapshot. A page ends after limit items,
// or before an item that would take its keys and values past maxBytes
// (it always holds at least one); limit or maxBytes ≤ 0 means no bound.
// When more live items follow, more is true and next is the first key
// of the next page. Keys expired at now are skipped.
func (s *Store) Range(c string, start, end []byte, limit, maxBytes int, now time.Time) (items []Item, more bool, next []byte, rev uint64, err error) {
	if s.closed.Load() {
		return nil, false, nil, 0, ErrClosed
	}
	if len(c) == 0 || len(c) > maxCollectionLen {
		return nil, false, nil, 0, fmt.Errorf("%w: collection name of %d bytes", ErrInvalid, len(c))
	}
	prefix := collectionPrefix(c)
	lo := append(bytes.Clone(prefix), start...)
	var hi []byte
	if end != nil {
		hi = append(bytes.Clone(prefix), end...)
	} else {
		hi = prefixEnd(prefix)
	}
	snap := s.db.Snapshot()
	defer snap.Close()
	if rev, err = snapRev(snap); err != nil {
		return nil, false, nil, 0, err
	}
	nowMs := toMs(now)
	it := snap.NewIterator(lo, hi)
	// Keys and values of a page share one arena; each slice is capped,
	// so that appending to one never writes over the next.
	var arena []byte
	size := 0
	for it.Next() {
		k := it.Key()
		modRev, expMs, value, derr := decodeEnvelope(it.Value())
		if derr != nil {
			err = corrupt("envelope", k, derr)
			break
		}
		if expiredAt(expMs, nowMs) {
			continue
		}
		ukey := k[len(prefix):]
		size += len(ukey) + len(value)
		if (limit > 0 && len(items) == limit) || (maxBytes > 0 && len(items) > 0 && size > maxBytes) {
			more = true
			next = bytes.Clone(ukey)
			break
		}
		if cap(arena)-len(arena) < len(ukey)+len(value) {
			arena = make([]byte, 0, max(8<<10, len(ukey)+len(value)))
		}
		n := len(arena)
		arena = append(arena, ukey...)
		m := len(arena)
		arena = append(arena, value...)
		items = append(items, Item{
			Key:   arena[n:m:m],
			Entry: Entry{Value: arena[m:len(arena):len(arena)], ModRevision: modRev, ExpiresAt: fromMs(expMs)},
		})
	}
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: range: %w", cerr)
	}
	if err != nil {
		return nil, false, nil, 0, err
	}
	return items, more, next, rev, nil
}

// collectionProbe is how many expired keys Collections looks at in a
// collection before it lists the collection without finding a live key.
const collectionProbe = 64

// Collections returns, in name order (bytewise), up to limit names of
// the collections after the name after ("" starts at the first) that
// allow accepts (nil accepts all) and that hold a live key at now, and
// whether more follow; limit ≤ 0 means no bound. It reads one lsm
// snapshot and never scans a collection's keys: data keys sort by name
// length first (len(c) | c | key), so it keeps one cursor per name
// length present and merges them, and each cursor jumps from one
// collection to the next with a new iterator at the prefix end of the
// last. Its cost is a few iterators per length present plus one per
// collection passed, whatever the number of keys.
//
// A collection whose first keys are expired but not yet deleted by the
// expirer costs a look at each: Collections looks at up to 64 of them,
// and lists the collection if all 64 are expired (it may then hold no
// live key until the expirer, within about a second, deletes them).
func (s *Store) Collections(after string, limit int, now time.Time, allow func(c string) bool) (names []string, more bool, err error) {
	if s.closed.Load() {
		return nil, false, ErrClosed
	}
	snap := s.db.Snapshot()
	defer snap.Close()
	cs := collectionScan{snap: snap, nowMs: toMs(now), allow: allow}
	// The name lengths present: one iterator per jump.
	var cursors []*lengthCursor
	for n := 1; n <= maxCollectionLen; {
		k, err := cs.firstKey([]byte{byte(n)}, dataHi)
		if err != nil {
			return nil, false, err
		}
		if k == nil {
			break
		}
		n = int(k[0])
		cursors = append(cursors, &lengthCursor{n: n, seek: lengthSeek(n, after)})
		n++
	}
	for _, c := range cursors {
		if err := cs.advance(c); err != nil {
			return nil, false, err
		}
	}
	for {
		var best *lengthCursor
		for _, c := range cursors {
			if c.name != "" && (best == nil || c.name < best.name) {
				best = c
			}
		}
		if best == nil {
			return names, false, nil
		}
		if limit > 0 && len(names) == limit {
			return names, true, nil
		}
		names = append(names, best.name)
		if err := cs.advance(best); err != nil {
			return nil, false, err
		}
	}
}

// lengthSeek returns the first data key at which a collection of name
// length n may sort after the name after: names longer than after that
// start with it sort after it, so a shorter after is a prefix to seek to;
// a name of n bytes sorts after a longer after only if it is greater than
// after's first n bytes, so that seeks to the prefix end of those bytes.
func lengthSeek(n int, after string) []byte {
	if len(after) < n {
		return append([]byte{byte(n)}, after...)
	}
	end := prefixEnd(append([]byte{byte(n)}, after[:n]...))
	if end == nil || end[0] != byte(n) {
		return nil // after[:n] is the greatest name of n bytes
	}
	return end
}

// lengthCursor walks the collections with names of n bytes, in order.
type lengthCursor struct {
	n    int
	seek []byte // the next data key to look from; nil when done
	name string // the current collection; "" when done
}

type collectionScan struct {
	snap  *lsm.Snapshot
	nowMs int64
	allow func(string) bool
}

// firstKey returns a copy of the first key in [lo, hi), or nil.
func (cs *collectionScan) firstKey(lo, hi []byte) ([]byte, error) {
	it := cs.snap.NewIterator(lo, hi)
	var k []byte
	if it.Next() {
		k = bytes.Clone(it.Key())
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("store: collections: %w", err)
	}
	return k, nil
}

// advance moves c to its next collection that allow accepts and that
// holds a live key (see Collections), or to the end.
func (cs *collectionScan) advance(c *lengthCursor) error {
	c.name = ""
	hi := []byte{byte(c.n + 1)}
	for c.seek != nil {
		it := cs.snap.NewIterator(c.seek, hi)
		if !it.Next() {
			c.seek = nil
			return closeIter(it)
		}
		k := it.Key()
		if len(k) < 1+c.n {
			closeIter(it)
			return corrupt("data key", k, errBadLength)
		}
		name := string(k[1 : 1+c.n])
		prefix := k[: 1+c.n : 1+c.n]
		c.seek = prefixEnd(prefix)
		if c.seek != nil && c.seek[0] != byte(c.n) {
			c.seek = nil // the last name of this length
		}
		if cs.allow != nil && !cs.allow(name) {
			if err := closeIter(it); err != nil {
				return err
			}
			continue
		}
		live, err := cs.live(it, prefix)
		if cerr := closeIter(it); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if live {
			c.name = name
			return nil
		}
	}
	return nil
}

// live reports whether the collection whose first key it is at holds a
// live key, looking at up to collectionProbe keys.
func (cs *collectionScan) live(it *lsm.Iterator, prefix []byte) (bool, error) {
	prefix = bytes.Clone(prefix)
	for range collectionProbe {
		_, expMs, _, err := decodeEnvelope(it.Value())
		if err != nil {
			return false, corrupt("envelope", it.Key(), err)
		}
		if !expiredAt(expMs, cs.nowMs) {
			return true, nil
		}
		if !it.Next() || !bytes.HasPrefix(it.Key(), prefix) {
			return false, nil
		}
	}
	return true, nil
}

func closeIter(it *lsm.Iterator) error {
	if err := it.Close(); err != nil {
		return fmt.Errorf("store: collections: %w", err)
	}
	return nil
}
