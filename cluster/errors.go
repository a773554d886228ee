package cluster

import "errors"

var (
	// ErrUnknownOutcome is returned by Propose, AddMember and RemoveMember
	// when the proposal was handed to raft but its fate is unknown: the
	// leader this member knew was lost after the proposal, or the
	// context ended first. The entry may still be applied; a guarded
	// retry is safe.
	ErrUnknownOutcome = errors.New("cluster: outcome unknown (leader lost or timed out after the proposal)")

	// ErrProposalDropped is returned when raft refused a proposal before
	// it reached any log (no leader known, a leadership transfer): it
	// was certainly not applied.
	ErrProposalDropped = errors.New("cluster: proposal dropped: no leader")

	// ErrTimeout is returned by ReadIndex when no read index could be
	// obtained (no quorum) before the context ended.
	ErrTimeout = errors.New("cluster: timed out without quorum")

	// ErrStopped is returned by every call after Close, or after the node
	// stopped on a fatal error (returned by Err).
	ErrStopped = errors.New("cluster: node stopped")

	// ErrRemoved is returned by proposals and reads on a member that has
	// been removed from the cluster.
	ErrRemoved = errors.New("cluster: this member was removed")

	// ErrMemberExists is returned by AddMember when the id chosen for the
	// new member was taken by a concurrent add.
	ErrMemberExists = errors.New("cluster: member id already used")

	// ErrNotMember is returned by RemoveMember for an id that is not a
	// member, and by conf changes that raft would refuse.
	ErrNotMember = errors.New("cluster: not a member")
)
