package cluster

import (
	"errors"
	"fmt"
	"path/filepath"

	"amaters-server/cluster/raftlog"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Seed starts a one-member cluster over a state machine that already
// holds data no entry carries: a single-node server's folder, or a
// restored backup (of a single-node server or of a cluster member). It
// writes, in dir/raft, a raft log that begins with a snapshot at index
// (the state machine's AppliedIndex, at least 1) and term 1, naming id
// at peerURL as the only voter, with the HardState committed there. Open
// then restarts from it as from any snapshot: the state machine is
// already at index, and every member added later lags below the log's
// first entry and so receives the state machine's snapshot, seed
// included (etcd's `snapshot restore` does the same).
//
// It fails when dir/raft already holds a log, and writes nothing then.
func Seed(dir string, id uint64, peerURL string, index uint64, opts Options) error {
	if id == 0 || index == 0 || peerURL == "" {
		return errors.New("cluster: seed needs an id, a peer URL and an index ≥ 1")
	}
	st, err := raftlog.Open(filepath.Join(dir, "raft"), raftlog.Options{FS: opts.FS, Logger: opts.Logger})
	if err != nil {
		return err
	}
	hs, _, _ := st.InitialState()
	last, _ := st.LastIndex()
	snap, _ := st.Snapshot()
	if hs.GetTerm() != 0 || last != 0 || snap.GetMetadata().GetIndex() != 0 {
		return errors.Join(fmt.Errorf("cluster: seed: %s already holds a raft log", filepath.Join(dir, "raft")), st.Close())
	}
	members := newMemberTable()
	members.URLs[id] = peerURL
	s := &pb.Snapshot{
		Data: members.encode(),
		Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(uint64(1)),
			ConfState: &pb.ConfState{Voters: []uint64{id}}},
	}
	h := &pb.HardState{Term: new(uint64(1)), Commit: new(index)}
	if err := st.Save(s, h, nil); err != nil {
		return errors.Join(fmt.Errorf("cluster: seed: %w", err), st.Close())
	}
	return st.Close()
}
