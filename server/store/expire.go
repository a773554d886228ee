package store

import (
	"fmt"
	"time"
)

// DueExpiries returns the expire requests for up to limit (≤ 0: no
// bound) expiry index entries due at now, in expiry order: one request
// per entry, each with its own revision if it deletes. The entries of
// keys since rewritten or deleted are stale; their requests delete only
// the entry and take no revision.
//
// The single-node expirer applies them at once (ExpireOnce); the cluster
// edition's leader proposes them through raft, so that every member
// applies the same expiries at the same revisions (a request proposed
// twice is harmless: its second apply finds nothing to do).
func (s *Store) DueExpiries(now time.Time, limit int) ([]Request, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	nowMs := toMs(now)
	if nowMs <= 0 {
		return nil, nil // every expiry is after 1970
	}
	hi := appendExpiryKey(nil, nowMs+1, nil)
	it := s.db.NewIterator(prefixExpiry, hi)
	var reqs []Request
	var err error
	for (limit <= 0 || len(reqs) < limit) && it.Next() {
		expMs, dk, derr := decodeExpiryKey(it.Key())
		if derr != nil {
			err = corrupt("expiry index", it.Key(), derr)
			break
		}
		modRev, derr := decodeU64(it.Value())
		if derr == nil && modRev == 0 {
			derr = errZeroRev
		}
		if derr != nil {
			err = corrupt("expiry index", it.Key(), derr)
			break
		}
		c, key, _ := splitDataKey(dk)
		reqs = append(reqs, Request{Now: now, Ops: []Op{{
			Kind:       OpExpire,
			Collection: c,
			Key:        append([]byte(nil), key...),
			ExpiresAt:  fromMs(expMs),
			Guard:      Guard{Kind: GuardRevision, Revision: modRev},
		}}})
	}
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: expiry index: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	return reqs, nil
}

// ExpireOnce runs one expirer pass at time now over up to limit due
// index entries (≤ 0: no bound), and returns the number of keys it
// deleted, each at its own revision with an expire event. The background
// expirer calls it every ExpireInterval with the store's clock; tests
// call it with theirs.
func (s *Store) ExpireOnce(now time.Time, limit int) (int, error) {
	_, n, err := s.expirePass(now, limit)
	return n, err
}

// expirePass returns the number of index entries handled and of keys
// deleted.
func (s *Store) expirePass(now time.Time, limit int) (handled, expired int, err error) {
	reqs, err := s.DueExpiries(now, limit)
	if err != nil || len(reqs) == 0 {
		return 0, 0, err
	}
	res, err := s.Apply(reqs)
	if err != nil {
		return 0, 0, err
	}
	for _, r := range res {
		if r.Err != nil {
			// Only the store builds these requests: a bug.
			return 0, 0, fmt.Errorf("store: expire request refused: %w", r.Err)
		}
		if r.Changed {
			expired++
		}
	}
	return len(reqs), expired, nil
}
