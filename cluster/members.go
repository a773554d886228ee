package cluster

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Role is a member's part in the cluster.
type Role string

// The roles of GET /v1/cluster.
const (
	RoleLeader   Role = "leader"
	RoleFollower Role = "follower"
	RoleLearner  Role = "learner"
)

// Member is one member of the cluster.
type Member struct {
	ID      uint64
	PeerURL string
	Role    Role
}

// memberTable is the cluster's membership beyond raft's ConfState: each
// member's peer URL, and every id ever removed (never reused). It lives
// in the raft snapshot's Data and is rebuilt from the membership entries
// replayed after it. Owned by the apply goroutine.
type memberTable struct {
	URLs    map[uint64]string `json:"members"`
	Removed []uint64          `json:"removed,omitempty"`
}

func newMemberTable() *memberTable { return &memberTable{URLs: map[uint64]string{}} }

// encode is the raft snapshot's Data: JSON, part of the on-disk format.
func (t *memberTable) encode() []byte {
	b, err := json.Marshal(t)
	if err != nil {
		panic(err) // maps of uint64 to string always encode
	}
	return b
}

func decodeMemberTable(b []byte) (*memberTable, error) {
	t := newMemberTable()
	if len(b) == 0 {
		return t, nil
	}
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("member table in raft snapshot: %w", err)
	}
	if t.URLs == nil {
		t.URLs = map[uint64]string{}
	}
	return t, nil
}

func (t *memberTable) clone() *memberTable {
	return &memberTable{URLs: maps.Clone(t.URLs), Removed: slices.Clone(t.Removed)}
}

func (t *memberTable) isRemoved(id uint64) bool { return slices.Contains(t.Removed, id) }

// maxID is the largest id ever used.
func (t *memberTable) maxID() uint64 {
	var m uint64
	for id := range t.URLs {
		m = max(m, id)
	}
	for _, id := range t.Removed {
		m = max(m, id)
	}
	return m
}

func (t *memberTable) remove(id uint64) {
	delete(t.URLs, id)
	if !t.isRemoved(id) {
		t.Removed = append(t.Removed, id)
	}
}
