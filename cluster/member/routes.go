package member

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"amaters-server/cluster"
	"amaters-server/cluster/replica"
	"amaters-server/promtext"
	"amaters-server/server"
)

// ServerOptions returns o with the engine, the routes, the
// Amaters-Leader header, the amaters_cluster_* metrics and the health
// check of this member set (see the package doc).
func (m *Member) ServerOptions(o server.Options) server.Options {
	o.OpenEngine = m.OpenEngine
	o.Routes = append(o.Routes, m.Routes()...)
	o.ResponseHeaders = m.ResponseHeaders
	o.RegisterMetrics = m.RegisterMetrics
	o.HealthChecks = append(o.HealthChecks, m.HealthCheck())
	return o
}

// errStarting answers the cluster routes before the replica is open.
var errStarting = server.HTTPError(http.StatusServiceUnavailable, "unavailable", "the member is starting: its raft log and state are being opened")

// replica returns the open replica or errStarting.
func (m *Member) replica() (*replica.Replica, error) {
	r := m.r.Load()
	if r == nil {
		return nil, errStarting
	}
	return r, nil
}

// Routes are GET /v1/cluster and the membership admin.
func (m *Member) Routes() []server.Route {
	return []server.Route{
		{Method: http.MethodGet, Path: "/v1/cluster", Permission: server.PermissionNone, Handler: m.status},
		{Method: http.MethodPost, Path: "/v1/admin/cluster/members", Permission: server.PermissionAdmin, Handler: m.add},
		{Method: http.MethodDelete, Path: "/v1/admin/cluster/members/{id}", Permission: server.PermissionAdmin, Handler: m.remove},
	}
}

func (m *Member) status(w http.ResponseWriter, _ *http.Request) error {
	r, err := m.replica()
	if err != nil {
		return err
	}
	server.WriteJSON(w, http.StatusOK, r.Status())
	return nil
}

func (m *Member) add(w http.ResponseWriter, req *http.Request) error {
	r, err := m.replica()
	if err != nil {
		return err
	}
	var body struct {
		PeerURL string `json:"peer_url"`
	}
	if err := server.ReadJSON(req, &body); err != nil {
		return err
	}
	if err := checkPeerURL(body.PeerURL); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(req.Context(), m.requestTimeout())
	defer cancel()
	id, err := r.Node().AddMember(ctx, body.PeerURL)
	if err != nil {
		return changeErr(w, err)
	}
	ms := replica.MemberStatus{ID: id, PeerURL: body.PeerURL, Role: string(cluster.RoleLearner)}
	for _, x := range r.Status().Members {
		if x.ID == id {
			ms = x
		}
	}
	server.WriteJSON(w, http.StatusCreated, ms)
	return nil
}

// checkPeerURL refuses what no member could be dialled at.
func checkPeerURL(s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return server.HTTPError(http.StatusBadRequest, "invalid_argument",
			`"peer_url" must be the new member's peer URL, http://HOST:PORT or https://HOST:PORT (its cluster.advertise_peer_url)`)
	}
	return nil
}

func (m *Member) remove(w http.ResponseWriter, req *http.Request) error {
	r, err := m.replica()
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(req.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		return server.HTTPError(http.StatusBadRequest, "invalid_argument", "a member id is a whole number from 1")
	}
	ctx, cancel := context.WithTimeout(req.Context(), m.requestTimeout())
	defer cancel()
	if err := r.Node().RemoveMember(ctx, id); err != nil {
		if errors.Is(err, cluster.ErrNotMember) {
			return server.HTTPError(http.StatusNotFound, "not_found", "no member "+strconv.FormatUint(id, 10))
		}
		return changeErr(w, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changeErr answers a failed membership change: an unknown outcome as
// the server answers a write's (503, Amaters-Outcome: unknown), with
// what to do about a membership change; the rest as serverErr.
func changeErr(w http.ResponseWriter, err error) error {
	if errors.Is(err, cluster.ErrMemberExists) {
		// Concurrent adds kept taking the id chosen: nothing applied.
		w.Header().Set("Retry-After", "1")
		return server.HTTPError(http.StatusServiceUnavailable, "unavailable",
			"concurrent membership changes took every id chosen for the new member; nothing was changed: retry")
	}
	if !errors.Is(err, cluster.ErrUnknownOutcome) {
		return serverErr(err)
	}
	w.Header().Set("Amaters-Outcome", "unknown")
	w.Header().Set("Retry-After", "1")
	return server.HTTPError(http.StatusServiceUnavailable, "unavailable",
		"the outcome of this membership change is unknown: it was proposed, then the cluster lost its leader or the request timed out "+
			"before it was applied; list the members (GET /v1/cluster) to learn whether it was, then retry if needed (adding a peer URL "+
			"that is already a member's answers that member; removing an id that is no longer a member answers 404)")
}

func (m *Member) requestTimeout() time.Duration {
	if m.opts.RequestTimeout > 0 {
		return m.opts.RequestTimeout
	}
	return 5 * time.Second // replica.Options' default
}

// ResponseHeaders sets Amaters-Leader: the leader this member knows, 0
// while none is known (or before the replica is open).
func (m *Member) ResponseHeaders(h http.Header) {
	var lead uint64
	if r := m.r.Load(); r != nil {
		lead = r.Node().Leader()
	}
	h.Set("Amaters-Leader", strconv.FormatUint(lead, 10))
}

// HealthCheck is the check "cluster": a leader is known.
func (m *Member) HealthCheck() server.HealthCheck {
	return server.HealthCheck{Name: "cluster", Check: func() error {
		r := m.r.Load()
		if r == nil {
			return nil // the server reports "starting" itself
		}
		st := r.Node().Status()
		switch {
		case r.Node().Err() != nil:
			return errors.New("the raft node stopped on an error (see the log)")
		case st.Removed:
			return errors.New("this member was removed from the cluster")
		case st.Leader == 0:
			return errors.New("no leader")
		}
		return nil
	}}
}

// RegisterMetrics registers the amaters_cluster_* families of API.md §9
// (and amaters_cluster_peer_refused_total), read at each scrape.
func (m *Member) RegisterMetrics(reg *promtext.Registry) {
	get := func(f func(replica.Metrics) float64) func() float64 {
		return func() float64 {
			r := m.r.Load()
			if r == nil {
				return 0
			}
			return f(r.Metrics())
		}
	}
	reg.NewGaugeFunc("amaters_cluster_is_leader", "1 while this member is the raft leader.",
		get(func(x replica.Metrics) float64 { return b2f(x.IsLeader) }))
	reg.NewGaugeFunc("amaters_cluster_term", "The raft term this member is in.",
		get(func(x replica.Metrics) float64 { return float64(x.Term) }))
	reg.NewGaugeFunc("amaters_cluster_commit_index", "The highest raft index this member knows committed.",
		get(func(x replica.Metrics) float64 { return float64(x.CommitIndex) }))
	reg.NewGaugeFunc("amaters_cluster_applied_index", "The highest raft index applied to this member's state.",
		get(func(x replica.Metrics) float64 { return float64(x.AppliedIndex) }))
	reg.NewCounterFunc("amaters_cluster_proposals_failed_total", "Proposals (writes, membership changes) that failed or whose outcome is unknown.",
		get(func(x replica.Metrics) float64 { return float64(x.ProposalsFailed) }))
	reg.NewCounterVecFunc("amaters_cluster_peer_send_failures_total", "Peer message batches that failed or were dropped, by peer id.",
		[]string{"peer"}, func(emit func(float64, ...string)) {
			r := m.r.Load()
			if r == nil {
				return
			}
			for id, n := range r.Metrics().PeerSendFailures {
				emit(float64(n), strconv.FormatUint(id, 10))
			}
		})
	reg.NewCounterFunc("amaters_cluster_snapshots_total", "Raft snapshots taken, sent and installed by this member.",
		get(func(x replica.Metrics) float64 { return float64(x.Snapshots) }))
	reg.NewCounterFunc("amaters_cluster_peer_refused_total", "Peer requests refused: not a member, a bad certificate, a malformed message.",
		get(func(x replica.Metrics) float64 { return float64(x.PeersRefused) }))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
