package store

import (
	"bytes"
	"errors"
	"fmt"

	"amaters-server/lsm"
)

// initOrUpgrade prepares a database without a "format" key: an empty one
// gets the format; one with data keys, or an unfinished upgrade, is
// upgraded from 0.2.
func (s *Store) initOrUpgrade() error {
	_, err := s.db.Get(keyUpgrade)
	resuming := err == nil
	if err != nil && !errors.Is(err, lsm.ErrNotFound) {
		return fmt.Errorf("store: read upgrade marker: %w", err)
	}
	if !resuming {
		it := s.db.NewIterator(dataLo, dataHi)
		has := it.Next()
		if err := it.Close(); err != nil {
			return fmt.Errorf("store: look for data: %w", err)
		}
		if !has {
			var b lsm.Batch
			b.Put(keyFormat, appendU32(nil, formatVersion))
			if err := s.db.Apply(&b); err != nil {
				return fmt.Errorf("store: initialise: %w", err)
			}
			return nil
		}
	}
	s.log.Info("store: upgrading the data from 0.2: every value gets revision 1; nothing is served until done", "resuming", resuming)
	total := 0
	for {
		n, done, err := s.upgradeStep(s.opts.UpgradeBatch)
		if err != nil {
			return fmt.Errorf("store: upgrade from 0.2 (resumes where it stopped at the next start): %w", err)
		}
		total += n
		if done {
			s.log.Info("store: upgrade from 0.2 done", "keys", total)
			return nil
		}
		if total/100000 != (total-n)/100000 {
			s.log.Info("store: upgrading from 0.2", "keys_done", total)
		}
	}
}

// upgradeBatchBytes bounds the keys and values of one upgrade batch.
const upgradeBatchBytes = 4 << 20

// upgradeStep rewrites up to limit data keys (and about
// upgradeBatchBytes) after the last one rewritten
// into envelopes of revision 1, and records the last one in "upgrade", in
// one batch; a step that reaches the end instead sets "format", "rev" = 1
// and "hist_oldest" = 2 (revision 1 has no events) and deletes "upgrade".
// A crash between steps resumes at the next.
func (s *Store) upgradeStep(limit int) (n int, done bool, err error) {
	lo := dataLo
	switch v, err := s.db.Get(keyUpgrade); {
	case err == nil:
		if _, _, ok := splitDataKey(v); !ok {
			return 0, false, corrupt("meta", keyUpgrade, errBadLength)
		}
		lo = append(v, 0) // the next key after v
	case !errors.Is(err, lsm.ErrNotFound):
		return 0, false, err
	}
	var b lsm.Batch
	var last, buf []byte
	size := 0
	it := s.db.NewIterator(lo, dataHi)
	// Large values end a step early: a batch is held in memory whole.
	for n < limit && size < upgradeBatchBytes && it.Next() {
		buf = appendEnvelope(buf[:0], 1, 0, it.Value())
		b.Put(it.Key(), buf)
		last = append(last[:0], it.Key()...)
		size += len(it.Key()) + len(buf)
		n++
	}
	done = !it.Next()
	if err := it.Close(); err != nil {
		return 0, false, err
	}
	if done {
		b.Put(keyFormat, appendU32(nil, formatVersion))
		b.Put(keyRev, appendU64(nil, 1))
		b.Put(keyHistOldest, appendU64(nil, 2))
		b.Delete(keyUpgrade)
	} else {
		b.Put(keyUpgrade, bytes.Clone(last))
	}
	if err := s.db.Apply(&b); err != nil {
		return 0, false, err
	}
	return n, done, nil
}
