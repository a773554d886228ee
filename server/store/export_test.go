package store

import "amaters-server/lsm"

// Test-only access to internals for the black-box tests in store_test.

// QueueLen returns the number of Writes waiting in the queue.
func (s *Store) QueueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// UpgradeSteps runs up to n steps of the upgrade from 0.2 on db, as Open
// would before a crash, and reports whether it finished.
func UpgradeSteps(db *lsm.DB, opts Options, n int) (done bool, err error) {
	s := &Store{db: db, opts: opts.withDefaults()}
	for range n {
		if _, done, err = s.upgradeStep(s.opts.UpgradeBatch); err != nil || done {
			return done, err
		}
	}
	return false, nil
}
