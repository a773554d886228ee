package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Consistency is the guarantee a read asks for (API.md §9). A
// single-node server's reads are linearizable either way.
type Consistency string

const (
	// Linearizable: the read sees every write acknowledged anywhere
	// before it began (the cluster confirms its leader and the answering
	// member catches up first). The default.
	Linearizable Consistency = "linearizable"
	// Serializable: the answering member's local state, without a round
	// to the leader; it may lag, but it answers without quorum.
	Serializable Consistency = "serializable"
)

// ReadOption is an option of a read: [Client.Get], [Client.GetEntry],
// [Client.RangePage], [Client.Range], [Client.Collections].
type ReadOption func(*readOptions)

type readOptions struct {
	consistency Consistency
}

// WithConsistency asks for c (?consistency=c); "" leaves the server's
// default (linearizable).
func WithConsistency(c Consistency) ReadOption {
	return func(o *readOptions) { o.consistency = c }
}

func readOpts(opts []ReadOption) readOptions {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// set adds the options to a query.
func (o readOptions) set(v url.Values) {
	if o.consistency != "" {
		v.Set("consistency", string(o.consistency))
	}
}

// ClusterStatus is GET /v1/cluster's answer (API.md §9): the answering
// member's view of the cluster.
type ClusterStatus struct {
	// ID is the answering member's id.
	ID uint64 `json:"id"`
	// Leader is the leader's id, 0 when none is known.
	Leader       uint64   `json:"leader"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	Members      []Member `json:"members"`
}

// Member is one member of a cluster.
type Member struct {
	ID      uint64 `json:"id"`
	PeerURL string `json:"peer_url"`
	// Role is "leader", "follower" or "learner".
	Role string `json:"role"`
	// Reachable: the answering member reaches it.
	Reachable bool `json:"reachable"`
}

// Cluster returns the cluster's status as the answering member sees it
// (GET /v1/cluster). A single-node amaters-server has no such endpoint:
// the error matches [ErrNotCluster].
func (c *Client) Cluster(ctx context.Context) (ClusterStatus, error) {
	var st ClusterStatus
	err := c.getJSON(ctx, "/v1/cluster", &st, "a cluster status")
	return st, err
}

// AddMember adds a member that peers reach at peerURL (POST
// /v1/admin/cluster/members, admin): it joins as a learner and is
// promoted to a voter once caught up. It returns the new member, with
// the id to start it with (cluster.node_id, initial_state = "existing").
// Like an unguarded write, it is not repeated once an attempt may have
// reached the server: the error then matches [ErrUnknownOutcome]; list
// the members to learn what happened.
func (c *Client) AddMember(ctx context.Context, peerURL string) (Member, error) {
	body, err := json.Marshal(map[string]string{"peer_url": peerURL})
	if err != nil {
		return Member{}, err
	}
	r, err := c.send(ctx, request{method: http.MethodPost, path: "/v1/admin/cluster/members", body: body, contentType: "application/json", retry: retryUnsent})
	if err != nil {
		return Member{}, err
	}
	if r.Status != http.StatusOK && r.Status != http.StatusCreated {
		return Member{}, errorFrom(r)
	}
	var m Member
	if err := json.Unmarshal(r.Body, &m); err != nil {
		return Member{}, fmt.Errorf("the answer is not a member: %w", err)
	}
	return m, nil
}

// RemoveMember removes member id from the cluster (DELETE
// /v1/admin/cluster/members/{id}, admin); ids are never reused. An id
// that is not a member is an error matching [ErrNotFound]. It is not
// repeated once an attempt may have reached the server (the error then
// matches [ErrUnknownOutcome]).
func (c *Client) RemoveMember(ctx context.Context, id uint64) error {
	if id == 0 {
		return errors.New("client: member ids start at 1")
	}
	r, err := c.send(ctx, request{method: http.MethodDelete, path: "/v1/admin/cluster/members/" + strconv.FormatUint(id, 10), retry: retryUnsent})
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK && r.Status != http.StatusNoContent {
		return errorFrom(r)
	}
	return nil
}
