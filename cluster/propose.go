package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

type proposalResult struct {
	val any
	err error
}

// Propose replicates cmd and returns the state machine's result once the
// entry is applied on this member. See the package documentation for the
// errors; a context without a deadline gets Options.RequestTimeout.
func (n *Node) Propose(ctx context.Context, cmd []byte) (any, error) {
	req := n.reqID.Add(1)
	return n.propose(ctx, req, false, func(ctx context.Context) error {
		return n.rn.Propose(ctx, encodeEnvelope(n.id, req, cmd))
	})
}

// propose registers a waiter for req, runs step and waits. With again
// (membership changes), step runs again every election timeout until
// the outcome is known: raft turns a conf change proposed while the
// leader still counts an earlier one as unapplied into an empty entry,
// without a word to the proposer (a follower proposing right after its
// last change was applied here may meet a leader that has not taken
// note of it yet). A repeat is harmless: the first of the copies to
// apply answers the waiter, and the later ones are refused as no-ops by
// applyConfChange (an id already used, an id no longer a member).
func (n *Node) propose(ctx context.Context, req uint64, again bool, step func(context.Context) error) (any, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.opts.RequestTimeout)
		defer cancel()
	}
	ch := make(chan proposalResult, 1)
	n.mu.Lock()
	n.waiters[req] = ch
	n.mu.Unlock()
	if err := step(ctx); err != nil {
		n.unwait(req)
		n.proposalsFailed.Add(1)
		switch {
		case errors.Is(err, raft.ErrProposalDropped):
			return nil, ErrProposalDropped
		case errors.Is(err, raft.ErrStopped):
			return nil, ErrStopped
		}
		// The context ended while raft took the proposal, or before.
		return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
	var repeat <-chan time.Time
	if again {
		t := time.NewTicker(max(n.opts.TickInterval*time.Duration(n.opts.ElectionTicks), 10*time.Millisecond))
		defer t.Stop()
		repeat = t.C
	}
	for {
		select {
		case r := <-ch:
			if r.err != nil && !isResultErr(r.err) {
				n.proposalsFailed.Add(1)
			}
			return r.val, r.err
		case <-repeat:
			step(ctx) // a failure leaves the first proposal's fate to come
		case <-ctx.Done():
			n.unwait(req)
			n.proposalsFailed.Add(1)
			return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
		}
	}
}

// isResultErr tells a refusal decided by the apply (a conf change that
// was not valid) from a failure of the proposal itself.
func isResultErr(err error) bool {
	return errors.Is(err, ErrMemberExists) || errors.Is(err, ErrNotMember)
}

func (n *Node) usable() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.fatal != nil:
		return fmt.Errorf("%w: %w", ErrStopped, n.fatal)
	case n.stopping:
		return ErrStopped
	case n.status.Removed:
		return ErrRemoved
	}
	return nil
}

func (n *Node) unwait(req uint64) {
	n.mu.Lock()
	delete(n.waiters, req)
	n.mu.Unlock()
}

func (n *Node) wake(req uint64, r proposalResult) {
	n.mu.Lock()
	ch := n.waiters[req]
	delete(n.waiters, req)
	n.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

func (n *Node) failWaiters(err error) {
	n.mu.Lock()
	ws := n.waiters
	n.waiters = map[uint64]chan proposalResult{}
	n.mu.Unlock()
	for _, ch := range ws {
		ch <- proposalResult{err: err}
	}
}

// applyWait wakes goroutines waiting for the applied index to reach a
// value. Safe for concurrent use; call init first.
type applyWait struct {
	mu      sync.Mutex // guards applied and waiters
	applied uint64
	waiters map[uint64][]chan struct{}
}

func (w *applyWait) init(applied uint64) {
	w.mu.Lock()
	w.applied = applied
	w.waiters = map[uint64][]chan struct{}{}
	w.mu.Unlock()
}

// wait returns a channel closed once the applied index is ≥ idx.
func (w *applyWait) wait(idx uint64) <-chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.applied >= idx {
		close(ch)
		return ch
	}
	w.waiters[idx] = append(w.waiters[idx], ch)
	return ch
}

func (w *applyWait) advance(applied uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied = applied
	for idx, chs := range w.waiters {
		if idx <= applied {
			for _, ch := range chs {
				close(ch)
			}
			delete(w.waiters, idx)
		}
	}
}

// Process steps a message from a peer (transport.Handler).
func (n *Node) Process(ctx context.Context, m *pb.Message) error {
	return n.rn.Step(ctx, m)
}

// ReportUnreachable tells raft a peer could not be reached
// (transport.Handler).
func (n *Node) ReportUnreachable(id uint64) { n.rn.ReportUnreachable(id) }

// ReportSnapshot tells raft how a snapshot send ended (transport.Handler).
func (n *Node) ReportSnapshot(id uint64, failed bool) {
	st := raft.SnapshotFinish
	if failed {
		st = raft.SnapshotFailure
	}
	n.rn.ReportSnapshot(id, st)
}
