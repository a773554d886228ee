package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
)

// readQueue batches linearizable reads: every read waiting when a round
// starts shares that round's ReadIndex request. Safe for concurrent use;
// call init first.
type readQueue struct {
	mu     sync.Mutex // guards next
	next   *readBatch
	kick   chan struct{}
	states chan raft.ReadState
	seq    uint64 // owned by readLoop
}

type readBatch struct {
	done  chan struct{}
	index uint64
	err   error
}

func newReadBatch() *readBatch { return &readBatch{done: make(chan struct{})} }

func (q *readQueue) init() {
	q.next = newReadBatch()
	q.kick = make(chan struct{}, 1)
	q.states = make(chan raft.ReadState, 64)
}

// observe hands a ReadState from a Ready to the read loop. A full channel
// drops it; the round retries.
func (q *readQueue) observe(rs raft.ReadState) {
	select {
	case q.states <- rs:
	default:
	}
}

// take swaps in a new pending batch and returns the old one.
func (q *readQueue) take() *readBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.next
	q.next = newReadBatch()
	return b
}

func (q *readQueue) fail(err error) {
	b := q.take()
	b.err = err
	close(b.done)
}

// ReadIndex returns once this member's state machine reflects every
// write acknowledged (anywhere in the cluster) before the call: a local
// read after it is linearizable. It returns the read index. Without a
// quorum it fails with ErrTimeout when ctx ends (Options.RequestTimeout
// if ctx has no deadline).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if err := n.usable(); err != nil {
		return 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.opts.RequestTimeout)
		defer cancel()
	}
	n.reads.mu.Lock()
	b := n.reads.next
	n.reads.mu.Unlock()
	select {
	case n.reads.kick <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	if b.err != nil {
		return 0, b.err
	}
	select {
	case <-n.waitIdx.wait(b.index):
		return b.index, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: applying up to read index %d: %w", ErrTimeout, b.index, ctx.Err())
	}
}

// readLoop runs one ReadIndex round at a time for the reads that queued
// before it started.
func (n *Node) readLoop() {
	for {
		select {
		case <-n.ctx.Done():
			n.reads.fail(ErrStopped)
			return
		case <-n.reads.kick:
		}
		b := n.reads.take()
		b.index, b.err = n.readRound()
		close(b.done)
	}
}

// readRound asks raft for a read index, retrying while no answer comes
// (no leader, a lost message), until Options.RequestTimeout.
func (n *Node) readRound() (uint64, error) {
	n.reads.seq++
	rctx := binary.BigEndian.AppendUint64(nil, n.reads.seq)
	retryEvery := max(n.opts.TickInterval*time.Duration(n.opts.ElectionTicks)/2, 10*time.Millisecond)
	deadline := time.NewTimer(n.opts.RequestTimeout)
	defer deadline.Stop()
	retry := time.NewTicker(retryEvery)
	defer retry.Stop()
	for {
		ctx, cancel := context.WithTimeout(n.ctx, retryEvery)
		err := n.rn.ReadIndex(ctx, rctx)
		cancel()
		if err != nil && n.ctx.Err() != nil {
			return 0, ErrStopped
		}
	wait:
		for {
			select {
			case rs := <-n.reads.states:
				if bytes.Equal(rs.RequestCtx, rctx) {
					return rs.Index, nil
				}
			case <-retry.C:
				break wait
			case <-deadline.C:
				return 0, ErrTimeout
			case <-n.ctx.Done():
				return 0, ErrStopped
			}
		}
	}
}
