package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"amaters-server/lsm"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Received snapshot data waits in <dir>/snap/<index, 16 hex digits>.snap
// until the Ready loop installs it; a .tmp file is one being received.

func (n *Node) snapDir() string { return filepath.Join(n.dir, "snap") }

func (n *Node) snapPath(idx uint64) string {
	return filepath.Join(n.snapDir(), fmt.Sprintf("%016x.snap", idx))
}

// ReceiveSnapshot saves the state-machine data of a snapshot durably,
// then steps the MsgSnap into raft (transport.Handler).
func (n *Node) ReceiveSnapshot(ctx context.Context, m *pb.Message, data io.Reader) error {
	idx := m.GetSnapshot().GetMetadata().GetIndex()
	if idx <= n.applied.Load() {
		return nil // raft would ignore it
	}
	tmp := fmt.Sprintf("%s.%d.tmp", n.snapPath(idx), n.reqID.Add(1))
	f, err := n.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("receive snapshot %d: %w", idx, err)
	}
	_, err = io.Copy(f, data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = n.fs.Rename(tmp, n.snapPath(idx))
	}
	if err == nil {
		err = syncDir(n.fs, n.snapDir())
	}
	if err != nil {
		n.fs.Remove(tmp)
		return fmt.Errorf("receive snapshot %d: %w", idx, err)
	}
	return n.rn.Step(ctx, m)
}

// installSnapshot records a snapshot from the leader in the raft log,
// with the Ready's HardState and entries, then restores the state machine
// from the data received with it.
func (n *Node) installSnapshot(snap *pb.Snapshot, hs *pb.HardState, ents []*pb.Entry) error {
	idx := snap.GetMetadata().GetIndex()
	if _, err := n.fs.Stat(n.snapPath(idx)); err != nil {
		return fmt.Errorf("install snapshot %d: data missing: %w", idx, err)
	}
	members, err := decodeMemberTable(snap.GetData())
	if err != nil {
		return err
	}
	if err := n.log.Save(snap, hs, ents); err != nil {
		return fmt.Errorf("install snapshot %d: %w", idx, err)
	}
	if err := n.restoreFromFile(idx); err != nil {
		return fmt.Errorf("install snapshot %d: %w", idx, err)
	}
	for id, u := range members.URLs {
		if err := n.tr.AddPeer(id, u); err != nil {
			n.logger.Warn("add peer from snapshot", "peer", id, "err", err)
		}
	}
	for _, id := range members.Removed {
		if id != n.id {
			n.tr.RemovePeer(id)
		}
	}
	n.members = members
	n.confState = proto.Clone(pb.EnsureConfState(snap.GetMetadata().GetConfState())).(*pb.ConfState)
	n.snapIndex = idx
	// Counted before the applied index moves, so that whoever sees the
	// new index also sees the count.
	n.snapshotsInstalled.Add(1)
	n.applied.Store(idx)
	n.waitIdx.advance(idx)
	n.removeSnapFiles(idx)
	n.noteMembers()
	return nil
}

func (n *Node) restoreFromFile(idx uint64) error {
	f, err := n.fs.Open(n.snapPath(idx))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := n.sm.Restore(idx, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return fmt.Errorf("restore state machine: %w", err)
	}
	if got := n.sm.AppliedIndex(); got != idx {
		return fmt.Errorf("state machine restored to applied index %d, want %d", got, idx)
	}
	return nil
}

// removeSnapFiles removes received snapshots at or below upto: installed,
// or overtaken by a newer one. Partial (.tmp) files are left alone, since
// one may be being received.
func (n *Node) removeSnapFiles(upto uint64) {
	names, err := n.fs.List(n.snapDir())
	if err != nil {
		return
	}
	for _, name := range names {
		base, ok := strings.CutSuffix(name, ".snap")
		if !ok {
			continue
		}
		if idx, err := strconv.ParseUint(base, 16, 64); err == nil && idx <= upto {
			n.fs.Remove(filepath.Join(n.snapDir(), name))
		}
	}
}

// sendSnapshot sends a follower the state machine at the current applied
// index, with metadata for that index (etcd's merged snapshot): raft's
// own snapshot may be older than the state machine.
func (n *Node) sendSnapshot(m *pb.Message) {
	applied := n.applied.Load()
	term, err := n.log.Term(applied)
	var rc io.ReadCloser
	if err == nil {
		rc, err = n.sm.Snapshot()
	}
	if err != nil {
		n.logger.Warn("snapshot for follower", "peer", m.GetTo(), "err", err)
		n.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		return
	}
	m = proto.Clone(m).(*pb.Message)
	m.Snapshot = &pb.Snapshot{
		Data: n.members.encode(),
		Metadata: &pb.SnapshotMetadata{Index: new(applied), Term: new(term),
			ConfState: proto.Clone(pb.EnsureConfState(n.confState)).(*pb.ConfState)},
	}
	n.snapshotsSent.Add(1)
	n.tr.SendSnapshot(m, rc)
}

// maybeSnapshot takes a raft snapshot every Options.SnapshotEntries
// applied entries and compacts the log below it, keeping
// Options.CatchUpEntries entries.
func (n *Node) maybeSnapshot() error {
	applied := n.applied.Load()
	if applied-n.snapIndex < n.opts.SnapshotEntries {
		return nil
	}
	// The raft log is about to forget entries the state machine may not
	// have made durable yet.
	if err := n.sm.Sync(); err != nil {
		return fmt.Errorf("sync state machine before snapshot: %w", err)
	}
	if _, err := n.log.CreateSnapshot(applied, n.confState, n.members.encode()); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		return fmt.Errorf("raft snapshot at %d: %w", applied, err)
	}
	n.snapIndex = applied
	if applied > n.opts.CatchUpEntries {
		if err := n.log.Compact(applied - n.opts.CatchUpEntries); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("compact raft log: %w", err)
		}
	}
	n.snapshotsTaken.Add(1)
	return nil
}

func syncDir(fs lsm.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
