package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"amaters-server/lsm"
)

// Options configure a Store. The zero value consists of defaults, except
// HistoryRevisions, whose zero keeps no history.
type Options struct {
	// Now is the clock: the background expirer's time, and a written
	// request's Now when it has none. nil means time.Now.
	Now func() time.Time
	// Logger receives the upgrade's progress and background failures;
	// nil discards them.
	Logger *slog.Logger
	// HistoryRevisions is how many of the newest revisions keep their
	// events for History (watch.history_revisions); 0 keeps none.
	HistoryRevisions uint64
	// MaxGroupBytes bounds the ops (keys and values) of one group commit;
	// 0 means 1 MiB. A larger request forms a group alone.
	MaxGroupBytes int
	// ExpireInterval is the period of the background expirer; 0 means one
	// second, negative runs none: tests call ExpireOnce, and the cluster
	// edition's leader proposes DueExpiries through raft instead.
	ExpireInterval time.Duration
	// ExpireBatch is the most index entries one expirer pass handles; 0
	// means 1000. A tick runs passes until one finds fewer, at most 10.
	ExpireBatch int
	// TrimInterval is the period of the background history trimmer; 0
	// means one second, negative runs none (call TrimHistory).
	TrimInterval time.Duration
	// TrimBatch is the most events one trim pass deletes; 0 means 1000.
	// A tick runs passes until one deletes fewer, at most 10.
	TrimBatch int
	// UpgradeBatch is the number of keys per batch of the upgrade from
	// 0.2; 0 means 1000.
	UpgradeBatch int
	// OnCommit, when set, receives the events of every committed group,
	// in revision order and, within a revision, in op order, once they
	// are durable (per the lsm sync mode) and visible to reads and to
	// History. It is called by the committing goroutine with the commit
	// lock held, so that calls never overlap or reorder: it must not
	// block, nor call Write, Apply, ExpireOnce or TrimHistory. It owns
	// the slice and the events' bytes. See # Watching in the package doc
	// for the hand-over from History.
	OnCommit func(events []Event)
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxGroupBytes == 0 {
		o.MaxGroupBytes = 1 << 20
	}
	if o.ExpireInterval == 0 {
		o.ExpireInterval = time.Second
	}
	if o.ExpireBatch == 0 {
		o.ExpireBatch = 1000
	}
	if o.TrimInterval == 0 {
		o.TrimInterval = time.Second
	}
	if o.TrimBatch == 0 {
		o.TrimBatch = 1000
	}
	if o.UpgradeBatch == 0 {
		o.UpgradeBatch = 1000
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.MaxGroupBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxGroupBytes %d is negative", o.MaxGroupBytes))
	}
	if o.ExpireBatch < 0 {
		errs = append(errs, fmt.Errorf("ExpireBatch %d is negative", o.ExpireBatch))
	}
	if o.TrimBatch < 0 {
		errs = append(errs, fmt.Errorf("TrimBatch %d is negative", o.TrimBatch))
	}
	if o.UpgradeBatch < 0 {
		errs = append(errs, fmt.Errorf("UpgradeBatch %d is negative", o.UpgradeBatch))
	}
	return errors.Join(errs...)
}

// Store is the revisioned state on one lsm.DB. Open it with [Open]; the
// zero value is not usable. A Store is safe for concurrent use.
//
// The Store does not own its lsm.DB: Close stops the store's goroutines
// and waits for its writes, and then the caller closes the DB. Nothing
// else may write to the DB while a Store is open on it.
type Store struct {
	db   *lsm.DB
	opts Options
	log  *slog.Logger

	// rev is the newest revision whose batch is visible in db; it is
	// stored under commitMu, after lsm's Apply returned.
	rev atomic.Uint64
	// seq is odd while a group's lsm Apply is in flight: a sequence lock
	// that lets Get tell whether the revision it read is the one of the
	// state it looked a key up in (see Get).
	seq     atomic.Uint64
	applied atomic.Uint64
	// oldest mirrors the "hist_oldest" meta key, for Metrics.
	oldest atomic.Uint64
	closed atomic.Bool
	stats  counters

	// commitMu serialises the evaluation and application of groups
	// (the Write leader, Apply, ExpireOnce) and the writes of history
	// trimming, and guards the fields below it, with the committer's
	// scratch memory, reused from group to group.
	commitMu     sync.Mutex
	commitClosed bool
	histOldest   uint64 // the "hist_oldest" meta value
	batch        lsm.Batch
	scratch      []byte // envelope and key encodings
	ov           overlay
	greqs        []Request
	gres         []Result

	// trimMu serialises TrimHistory, and guards trimFrom and trimBatch.
	trimMu    sync.Mutex
	trimFrom  uint64 // no event below this revision is left to delete
	trimBatch lsm.Batch

	// mu guards queue, leading and closing: the Write queue (see write.go).
	mu      sync.Mutex
	queue   []*waiter
	leading bool
	closing bool
	writers sync.WaitGroup // Writes between their check of closing and return
	lgroup  []*waiter      // the leader's group; used only by the leader
	waiters sync.Pool      // of *waiter

	cancel    context.CancelFunc
	wg        sync.WaitGroup // background goroutines
	closeOnce sync.Once
	bgMu      sync.Mutex // guards bgErr
	bgErr     error      // the last background failure, nil after a success
}

type counters struct {
	groups, requests, expired, trimmed atomic.Uint64
}

// Metrics is a point-in-time report of a store, for the server's metrics.
// Counters count since Open.
type Metrics struct {
	Revision       uint64 // the database revision
	AppliedIndex   uint64 // see Store.AppliedIndex
	OldestRevision uint64 // the oldest revision History serves
	Groups         uint64 // groups committed (lsm batches written)
	Requests       uint64 // requests evaluated in those groups
	Expired        uint64 // keys deleted by expiry (amaters_storage_expired_total)
	Trimmed        uint64 // history events deleted by trimming
	// Err is the last failure of the background expirer or trimmer, nil
	// once a later pass succeeds.
	Err error
}

// Open opens the store on db. It initialises an empty database, refuses a
// newer format with ErrNewerFormat, finishes or runs the upgrade of a 0.2
// database (see # Upgrade from 0.2), loads the revision, and starts the
// background expirer and trimmer.
func Open(db *lsm.DB, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("store: invalid options: %w", err)
	}
	s := &Store{db: db, opts: opts, log: opts.Logger}
	if err := s.load(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if opts.ExpireInterval > 0 || opts.TrimInterval > 0 {
		s.wg.Go(func() { s.maintain(ctx) })
	}
	return s, nil
}

// load reads the meta keys, initialising or upgrading first as needed.
func (s *Store) load() error {
	v, err := s.db.Get(keyFormat)
	switch {
	case err == nil:
		f, err := decodeU32(v)
		if err != nil {
			return corrupt("meta", keyFormat, err)
		}
		if f > formatVersion {
			return fmt.Errorf("%w: the database has format %d, this version reads format %d", ErrNewerFormat, f, formatVersion)
		}
		if f < formatVersion {
			return corrupt("meta", keyFormat, fmt.Errorf("unknown format %d", f))
		}
		if _, err := s.db.Get(keyUpgrade); err == nil {
			return corrupt("meta", keyUpgrade, errors.New("an upgrade marker in an upgraded database"))
		} else if !errors.Is(err, lsm.ErrNotFound) {
			return err
		}
	case errors.Is(err, lsm.ErrNotFound):
		if err := s.initOrUpgrade(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("store: read format: %w", err)
	}
	rev, err := s.loadU64(keyRev, 0)
	if err != nil {
		return err
	}
	applied, err := s.loadU64(keyApplied, 0)
	if err != nil {
		return err
	}
	oldest, err := s.loadU64(keyHistOldest, 1)
	if err != nil {
		return err
	}
	s.rev.Store(rev)
	s.applied.Store(applied)
	s.histOldest = oldest
	s.oldest.Store(oldest)
	return nil
}

// loadU64 reads a u64 meta key, def when absent.
func (s *Store) loadU64(key []byte, def uint64) (uint64, error) {
	v, err := s.db.Get(key)
	if errors.Is(err, lsm.ErrNotFound) {
		return def, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read meta %s: %w", key[2:], err)
	}
	n, err := decodeU64(v)
	if err != nil {
		return 0, corrupt("meta", key, err)
	}
	return n, nil
}

// Revision returns the database revision: the newest committed one, 0 in
// an empty database.
func (s *Store) Revision() uint64 { return s.rev.Load() }

// AppliedIndex returns the newest Request.AppliedIndex recorded (0 when
// none), durable with the batch that recorded it: the cluster edition's
// raft applied index.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// Metrics returns the current metrics.
func (s *Store) Metrics() Metrics {
	s.bgMu.Lock()
	err := s.bgErr
	s.bgMu.Unlock()
	return Metrics{
		Revision:       s.rev.Load(),
		AppliedIndex:   s.applied.Load(),
		OldestRevision: s.oldest.Load(),
		Groups:         s.stats.groups.Load(),
		Requests:       s.stats.requests.Load(),
		Expired:        s.stats.expired.Load(),
		Trimmed:        s.stats.trimmed.Load(),
		Err:            err,
	}
}

// Close stops the background expirer and trimmer, refuses new calls with
// ErrClosed, and waits for the writes in progress. It does not close the
// lsm.DB. Close is idempotent; it returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.closed.Store(true)
		s.cancel()
		s.wg.Wait()
		s.writers.Wait()
		s.commitMu.Lock()
		s.commitClosed = true
		s.commitMu.Unlock()
	})
	return nil
}

// maintain runs the expirer and the trimmer until ctx ends. Their
// failures are logged when they start and when they end, and kept for
// Metrics; the next tick tries again.
func (s *Store) maintain(ctx context.Context) {
	var expireC, trimC <-chan time.Time
	if s.opts.ExpireInterval > 0 {
		t := time.NewTicker(s.opts.ExpireInterval)
		defer t.Stop()
		expireC = t.C
	}
	if s.opts.TrimInterval > 0 {
		t := time.NewTicker(s.opts.TrimInterval)
		defer t.Stop()
		trimC = t.C
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-expireC:
			for range 10 {
				var n int
				n, _, err = s.expirePass(s.opts.Now(), s.opts.ExpireBatch)
				if err != nil || n < s.opts.ExpireBatch || ctx.Err() != nil {
					break
				}
			}
			if err != nil {
				err = fmt.Errorf("expirer: %w", err)
			}
		case <-trimC:
			for range 10 {
				var n int
				n, err = s.TrimHistory(s.opts.TrimBatch)
				if err != nil || n < s.opts.TrimBatch || ctx.Err() != nil {
					break
				}
			}
			if err != nil {
				err = fmt.Errorf("history trimmer: %w", err)
			}
		}
		if errors.Is(err, ErrClosed) {
			return
		}
		s.setBGErr(err)
	}
}

func (s *Store) setBGErr(err error) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	switch {
	case err != nil && s.bgErr == nil:
		s.log.Error("store: background work failed; retrying every tick", "err", err)
	case err == nil && s.bgErr != nil:
		s.log.Info("store: background work recovered", "after", s.bgErr.Error())
	}
	s.bgErr = err
}
