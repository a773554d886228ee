package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"amaters-server/server"
	"amaters-server/server/client"
)

// fakeCluster serves the cluster routes of API.md §9 through the server's
// Options.Routes, as the cluster edition does, over a member table.
type fakeCluster struct {
	mu      sync.Mutex
	members []client.Member
	nextID  uint64
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{nextID: 4, members: []client.Member{
		{ID: 1, PeerURL: "http://10.0.0.1:7880", Role: "leader", Reachable: true},
		{ID: 2, PeerURL: "http://10.0.0.2:7880", Role: "follower", Reachable: true},
		{ID: 3, PeerURL: "http://10.0.0.3:7880", Role: "follower", Reachable: false},
	}}
}

func (f *fakeCluster) options() server.Options {
	return server.Options{
		Routes: []server.Route{
			{Method: "GET", Path: "/v1/cluster", Handler: func(w http.ResponseWriter, r *http.Request) error {
				f.mu.Lock()
				defer f.mu.Unlock()
				server.WriteJSON(w, 200, client.ClusterStatus{ID: 1, Leader: 1, Term: 5, CommitIndex: 42, AppliedIndex: 42, Members: f.members})
				return nil
			}},
			{Method: "POST", Path: "/v1/admin/cluster/members", Permission: server.PermissionAdmin, Handler: func(w http.ResponseWriter, r *http.Request) error {
				var req struct {
					PeerURL string `json:"peer_url"`
				}
				if err := server.ReadJSON(r, &req); err != nil {
					return err
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				m := client.Member{ID: f.nextID, PeerURL: req.PeerURL, Role: "learner"}
				f.nextID++
				f.members = append(f.members, m)
				server.WriteJSON(w, 201, m)
				return nil
			}},
			{Method: "DELETE", Path: "/v1/admin/cluster/members/{id}", Permission: server.PermissionAdmin, Handler: func(w http.ResponseWriter, r *http.Request) error {
				id, _ := strconv.ParseUint(r.PathValue("id"), 10, 64)
				f.mu.Lock()
				defer f.mu.Unlock()
				for i, m := range f.members {
					if m.ID == id {
						f.members = append(f.members[:i], f.members[i+1:]...)
						w.WriteHeader(204)
						return nil
					}
				}
				return server.HTTPError(404, "not_found", "no member "+r.PathValue("id"))
			}},
		},
	}
}

func ExampleClient_Cluster() {
	addr, stop, err := startLoopbackServerWith(nil, newFakeCluster().options())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	c, _ := client.New(addr, client.Options{})
	ctx := context.Background()

	m, err := c.AddMember(ctx, "http://10.0.0.4:7880")
	fmt.Println(m.ID, m.Role, err)
	st, err := c.Cluster(ctx)
	fmt.Println("leader", st.Leader, "members", len(st.Members), err)
	for _, m := range st.Members {
		fmt.Println(m.ID, m.PeerURL, m.Role, m.Reachable)
	}
	fmt.Println(c.RemoveMember(ctx, 3))
	err = c.RemoveMember(ctx, 3)
	fmt.Println(errors.Is(err, client.ErrNotFound), err)
	// Output:
	// 4 learner <nil>
	// leader 1 members 4 <nil>
	// 1 http://10.0.0.1:7880 leader true
	// 2 http://10.0.0.2:7880 follower true
	// 3 http://10.0.0.3:7880 follower false
	// 4 http://10.0.0.4:7880 learner false
	// <nil>
	// true 404 not_found: no member 3
}

func ExampleWithConsistency() {
	c, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	c.Put(ctx, "demo", []byte("k"), []byte("v"))
	// A serializable read answers from the member's own state, without
	// a round to the leader (a single-node server's reads are the same
	// either way).
	v, err := c.Get(ctx, "demo", []byte("k"), client.WithConsistency(client.Serializable))
	fmt.Printf("%s %v\n", v, err)
	// Output:
	// v <nil>
}

// TestClusterCallsOnSingleNode: a single-node server has no cluster
// endpoints; the error says so.
func TestClusterCallsOnSingleNode(t *testing.T) {
	c, stop := exampleClient()
	defer stop()
	_, err := c.Cluster(context.Background())
	if !errors.Is(err, client.ErrNotCluster) || errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Cluster on a single node: %v", err)
	}
	if err := c.RemoveMember(context.Background(), 0); err == nil {
		t.Fatal("member id 0 accepted")
	}
}

// TestReadConsistencyQuery: every read sends the consistency it is
// given, and nothing when none is.
func TestReadConsistencyQuery(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Query().Get("consistency"))
		mu.Unlock()
		switch r.URL.Path {
		case "/v1/collections":
			w.Write([]byte(`{"collections":[{"name":"a"}],"more":false}`))
		case "/v1/collections/a/range":
			w.Write([]byte(`{"items":[],"more":false,"revision":1}`))
		default:
			w.Write([]byte("v"))
		}
	}))
	defer ts.Close()
	c, err := client.New(ts.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := client.WithConsistency(client.Serializable)
	c.Get(ctx, "a", []byte("k"), s)
	c.GetEntry(ctx, "a", []byte("k"), client.WithConsistency(client.Linearizable))
	c.RangePage(ctx, "a", client.RangeQuery{}, nil, s)
	for range c.Range(ctx, "a", client.RangeQuery{Prefix: []byte("p")}, s) {
	}
	c.Collections(ctx, s)
	c.Get(ctx, "a", []byte("k"))
	want := []string{"serializable", "linearizable", "serializable", "serializable", "serializable", ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("consistency sent: %q, want %q", got, want)
	}
}

// TestUnknownOutcome503: a 503 whose write's outcome is unknown is never
// repeated for an unguarded write, and matches ErrUnknownOutcome; a
// plain 503 applied nothing and is retried.
func TestUnknownOutcome503(t *testing.T) {
	var attempts atomic.Int64
	var unknown atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		if unknown.Load() {
			w.Header().Set("Amaters-Outcome", "unknown")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		w.Write([]byte(`{"error":{"code":"unavailable","message":"m"}}`))
	}))
	defer ts.Close()
	c, err := client.New(ts.URL, client.Options{Retry: client.RetryPolicy{MaxAttempts: 3, BaseDelay: 1, MaxDelay: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	unknown.Store(true)
	_, err = c.Put(ctx, "a", []byte("k"), []byte("v"))
	if !errors.Is(err, client.ErrUnknownOutcome) || !errors.Is(err, client.ErrUnavailable) || attempts.Load() != 1 {
		t.Fatalf("unguarded PUT: %v after %d attempts", err, attempts.Load())
	}
	attempts.Store(0)
	if _, err := c.AddMember(ctx, "http://x:7880"); !errors.Is(err, client.ErrUnknownOutcome) || attempts.Load() != 1 {
		t.Fatalf("AddMember: %v after %d attempts", err, attempts.Load())
	}
	// A guarded write applies at most once: retried, and still unknown.
	attempts.Store(0)
	if _, err := c.Put(ctx, "a", []byte("k"), []byte("v"), client.IfMatch(3)); !errors.Is(err, client.ErrUnknownOutcome) || attempts.Load() != 3 {
		t.Fatalf("guarded PUT: %v after %d attempts", err, attempts.Load())
	}

	unknown.Store(false)
	attempts.Store(0)
	_, err = c.Put(ctx, "a", []byte("k"), []byte("v"))
	if errors.Is(err, client.ErrUnknownOutcome) || !errors.Is(err, client.ErrUnavailable) || attempts.Load() != 3 {
		t.Fatalf("plain 503: %v after %d attempts", err, attempts.Load())
	}
}
