package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// AddMember adds a member at peerURL as a learner and returns its new id;
// the leader promotes it to voter once it has caught up. The id is one
// above every id ever used. Adding a URL that is already a member's
// returns that member's id, so a retry after ErrUnknownOutcome is safe.
// An id found taken when the change is applied (a concurrent add, or
// this member not yet aware of the last one) is chosen again, a few
// times.
func (n *Node) AddMember(ctx context.Context, peerURL string) (uint64, error) {
	for try := 0; ; try++ {
		id, err := n.addMember(ctx, peerURL)
		if !errors.Is(err, ErrMemberExists) || try == 4 || ctx.Err() != nil {
			return id, err
		}
	}
}

func (n *Node) addMember(ctx context.Context, peerURL string) (uint64, error) {
	n.mu.Lock()
	for _, m := range n.status.Members {
		if m.PeerURL == peerURL {
			n.mu.Unlock()
			return m.ID, nil
		}
	}
	n.mu.Unlock()
	id := n.maxID.Load() + 1
	req := n.reqID.Add(1)
	cc := &pb.ConfChangeV2{
		Changes: []*pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: new(id)}},
		Context: encodeEnvelope(n.id, req, []byte(peerURL)),
	}
	_, err := n.propose(ctx, req, true, func(ctx context.Context) error { return n.rn.ProposeConfChange(ctx, cc) })
	if err != nil {
		return 0, err
	}
	return id, nil
}

// RemoveMember removes member id for good; its id is never used again.
// Removing the leader makes it step down once the change is applied.
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	n.mu.Lock()
	found := slices.ContainsFunc(n.status.Members, func(m Member) bool { return m.ID == id })
	n.mu.Unlock()
	if !found {
		return fmt.Errorf("%w: %d", ErrNotMember, id)
	}
	req := n.reqID.Add(1)
	cc := &pb.ConfChangeV2{
		Changes: []*pb.ConfChangeSingle{{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: new(id)}},
		Context: encodeEnvelope(n.id, req, nil),
	}
	_, err := n.propose(ctx, req, true, func(ctx context.Context) error { return n.rn.ProposeConfChange(ctx, cc) })
	return err
}

// applyConfChange validates and applies a committed membership change:
// to raft, to the member table and to the transport. A change that is
// not valid (an id already used, the last voter removed) is refused as a
// no-op on every member alike, since the check depends only on the log;
// refused is the proposer's answer. A non-nil err is fatal.
func (n *Node) applyConfChange(e *pb.Entry) (origin, req uint64, refused, err error) {
	var cc pb.ConfChangeI
	if e.GetType() == pb.EntryConfChange {
		c := &pb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			return 0, 0, nil, fmt.Errorf("decode conf change %d: %w", e.GetIndex(), err)
		}
		cc = c
	} else {
		c := &pb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			return 0, 0, nil, fmt.Errorf("decode conf change %d: %w", e.GetIndex(), err)
		}
		cc = c
	}
	v2 := cc.AsV2()
	origin, req, url, derr := decodeEnvelope(v2.GetContext())
	if derr != nil {
		origin, req, url = 0, 0, nil
	}
	if len(v2.GetChanges()) != 1 {
		// This package proposes single changes only.
		return origin, req, fmt.Errorf("%w: %d changes in one conf change", ErrNotMember, len(v2.GetChanges())), nil
	}
	ch := v2.GetChanges()[0]
	id := ch.GetNodeId()
	_, known := n.members.URLs[id]
	learner := slices.Contains(n.confState.GetLearners(), id)
	voter := slices.Contains(n.confState.GetVoters(), id)
	urlTaken := false
	for _, u := range n.members.URLs {
		urlTaken = urlTaken || (len(url) > 0 && u == string(url))
	}
	switch ch.GetType() {
	case pb.ConfChangeAddNode:
		switch {
		case voter && !known && len(url) > 0 && !urlTaken:
			// The bootstrap entries: raft applied them to its own
			// configuration at StartNode already.
			n.members.URLs[id] = string(url)
		case voter || n.members.isRemoved(id) || id == 0:
			refused = fmt.Errorf("%w: %d", ErrMemberExists, id)
		case !learner && (len(url) == 0 || known || urlTaken):
			refused = fmt.Errorf("%w: %d (no URL, or URL taken)", ErrMemberExists, id)
		case !learner:
			n.members.URLs[id] = string(url)
		}
	case pb.ConfChangeAddLearnerNode:
		if known || n.members.isRemoved(id) || id == 0 || len(url) == 0 || urlTaken {
			refused = fmt.Errorf("%w: %d", ErrMemberExists, id)
		} else {
			n.members.URLs[id] = string(url)
		}
	case pb.ConfChangeRemoveNode:
		switch {
		case !voter && !learner:
			refused = fmt.Errorf("%w: %d", ErrNotMember, id)
		case voter && len(n.confState.GetVoters()) == 1:
			refused = fmt.Errorf("%w: %d is the last voter", ErrNotMember, id)
		default:
			n.members.remove(id)
		}
	default:
		refused = fmt.Errorf("%w: conf change type %v", ErrNotMember, ch.GetType())
	}
	if refused != nil {
		return origin, req, refused, nil
	}
	n.confState = n.rn.ApplyConfChange(cc)
	switch ch.GetType() {
	case pb.ConfChangeAddNode, pb.ConfChangeAddLearnerNode:
		if u, ok := n.members.URLs[id]; ok && id != n.id {
			if err := n.tr.AddPeer(id, u); err != nil {
				n.logger.Warn("add peer", "peer", id, "err", err)
			}
		}
	case pb.ConfChangeRemoveNode:
		delete(n.promoteAfter, id)
		if id != n.id {
			n.tr.RemovePeer(id)
		}
	}
	n.noteMembers()
	return origin, req, nil, nil
}

// noteMembers publishes the member table to Status and AddMember. Called
// on the loop goroutine (or before it starts).
func (n *Node) noteMembers() {
	n.maxID.Store(max(n.members.maxID(), n.id))
	n.mu.Lock()
	n.status.Members = n.memberList()
	n.status.Removed = n.members.isRemoved(n.id)
	n.mu.Unlock()
}

// maybePromote, on the leader, proposes promoting each learner whose
// match index is within Options.PromoteLag of the commit index. It looks
// once per election timeout and proposes for one learner at most once per
// five election timeouts (raft takes one conf change at a time).
func (n *Node) maybePromote() {
	if n.raftState != raft.StateLeader || len(n.confState.GetLearners()) == 0 || n.ticks%uint64(n.opts.ElectionTicks) != 0 {
		return
	}
	st := n.rn.Status()
	for _, id := range n.confState.GetLearners() {
		pr, ok := st.Progress[id]
		if !ok || pr.Match == 0 || pr.Match+n.opts.PromoteLag < st.GetCommit() || n.ticks < n.promoteAfter[id] {
			continue
		}
		n.promoteAfter[id] = n.ticks + 5*uint64(n.opts.ElectionTicks)
		cc := &pb.ConfChangeV2{
			Changes: []*pb.ConfChangeSingle{{Type: pb.ConfChangeAddNode.Enum(), NodeId: new(id)}},
			Context: encodeEnvelope(0, 0, nil),
		}
		n.wg.Go(func() {
			ctx, cancel := context.WithTimeout(n.ctx, n.opts.RequestTimeout)
			defer cancel()
			if err := n.rn.ProposeConfChange(ctx, cc); err != nil && !errors.Is(err, context.Canceled) {
				n.logger.Debug("propose promotion", "learner", id, "err", err)
			}
		})
		return
	}
}
