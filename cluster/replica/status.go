package replica

import "amaters-server/cluster"

// Status is GET /v1/cluster's answer (API.md §9); its JSON names are
// part of the API.
type Status struct {
	ID           uint64         `json:"id"`
	Leader       uint64         `json:"leader"` // 0 when none is known
	Term         uint64         `json:"term"`
	CommitIndex  uint64         `json:"commit_index"`
	AppliedIndex uint64         `json:"applied_index"`
	Members      []MemberStatus `json:"members"`
}

// MemberStatus is one member in [Status].
type MemberStatus struct {
	ID      uint64 `json:"id"`
	PeerURL string `json:"peer_url"`
	Role    string `json:"role"` // leader, follower or learner
	// Reachable: this member is the one answering, or the last message
	// batch this member sent it was delivered.
	Reachable bool `json:"reachable"`
}

// Status returns this member's view of the cluster.
func (r *Replica) Status() Status {
	ns := r.node.Status()
	ps := r.tr.Stats().Peers
	st := Status{ID: ns.ID, Leader: ns.Leader, Term: ns.Term, CommitIndex: ns.Commit, AppliedIndex: ns.Applied,
		Members: make([]MemberStatus, 0, len(ns.Members))}
	for _, m := range ns.Members {
		ms := MemberStatus{ID: m.ID, PeerURL: m.PeerURL, Role: string(m.Role), Reachable: m.ID == ns.ID}
		if p, ok := ps[m.ID]; ok {
			ms.Reachable = ms.Reachable || p.Reachable
		}
		st.Members = append(st.Members, ms)
	}
	return st
}

// Metrics are the values of API.md §9's amaters_cluster_* metrics.
type Metrics struct {
	IsLeader         bool              // amaters_cluster_is_leader
	Term             uint64            // amaters_cluster_term
	CommitIndex      uint64            // amaters_cluster_commit_index
	AppliedIndex     uint64            // amaters_cluster_applied_index
	ProposalsFailed  uint64            // amaters_cluster_proposals_failed_total
	PeerSendFailures map[uint64]uint64 // amaters_cluster_peer_send_failures_total{peer}: failed requests and dropped messages
	Snapshots        uint64            // amaters_cluster_snapshots_total: taken, sent and installed
	// PeersRefused counts peer requests refused (not a member, a bad
	// certificate, malformed): not in API.md, worth a metric.
	PeersRefused uint64
}

// Metrics returns the counters and gauges for /metrics.
func (r *Replica) Metrics() Metrics {
	ns := r.node.Status()
	s := r.node.Stats()
	ts := r.tr.Stats()
	m := Metrics{IsLeader: ns.Role == cluster.RoleLeader, Term: ns.Term, CommitIndex: ns.Commit, AppliedIndex: ns.Applied,
		ProposalsFailed: s.ProposalsFailed, Snapshots: s.SnapshotsTaken + s.SnapshotsSent + s.SnapshotsInstalled,
		PeerSendFailures: map[uint64]uint64{}, PeersRefused: ts.Refused + ts.Malformed}
	for id, p := range ts.Peers {
		m.PeerSendFailures[id] = p.Failures + p.Dropped
	}
	return m
}
