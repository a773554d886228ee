package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amaters-server/cluster/config"
	srvconfig "amaters-server/server/config"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "amaters.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const good = `
[server]
data_dir = "./d1"

[cluster]
node_id = 1
peer_address = "127.0.0.1:7880"
initial_members = ["1=http://127.0.0.1:7880", "2=http://127.0.0.1:7882", "3=http://127.0.0.1:7884"]
`

func TestLoadGood(t *testing.T) {
	p := write(t, good)
	c, err := config.Load(p, []string{"AMATERS_CLUSTER_ELECTION_MS=2000", "AMATERS_TOKEN=x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m, _ := c.Members()
	if c.NodeID != 1 || len(m) != 3 || m[3] != "http://127.0.0.1:7884" || c.ElectionMs != 2000 || c.ElectionTicks() != 20 ||
		c.InitialState != "new" || c.SnapshotEntries != 10000 || c.RequestTimeoutMs != 5000 {
		t.Fatalf("%+v", c)
	}
	// The server's loader sees [cluster] as its one problem.
	_, err = srvconfig.Load(p, nil, srvconfig.Overrides{})
	ps := srvconfig.Problems(err)
	if len(ps) != 1 || !strings.Contains(ps[0].Error(), "cluster") {
		t.Fatalf("server/config problems: %v", ps)
	}
}

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		env        []string
		want       []string // substrings, one per expected problem, in any order
	}{
		{"node id missing", `[cluster]
initial_members = ["1=http://127.0.0.1:7880"]`, nil, []string{"cluster.node_id: is required"}},
		{"unknown key with line", "[cluster]\nnode_id = 1\nnode_idd = 2\n", nil, []string{"amaters.toml:3: cluster.node_idd: unknown key"}},
		{"wrong type", "[cluster]\nnode_id = \"one\"\n", nil, []string{"amaters.toml:2: cluster.node_id: must be a positive integer"}},
		{"bad members", `[cluster]
node_id = 1
initial_members = ["1=http://127.0.0.1:7880", "1=http://127.0.0.1:7881"]`, nil, []string{"appears twice"}},
		{"self missing", `[cluster]
node_id = 4
initial_members = ["1=http://127.0.0.1:7880"]`, nil, []string{"does not name this member"}},
		{"advertise mismatch", `[cluster]
node_id = 1
peer_address = "127.0.0.1:9999"
initial_members = ["1=http://127.0.0.1:7880"]`, nil, []string{"but it advertises http://127.0.0.1:9999"}},
		{"non-loopback without TLS", `[cluster]
node_id = 1
peer_address = "10.0.0.1:7880"
initial_members = ["1=http://10.0.0.1:7880"]`, nil, []string{"insecure_peers = true"}},
		{"half TLS", `[cluster]
node_id = 1
peer_tls_cert = "c.pem"
initial_members = ["1=https://127.0.0.1:7880"]`, nil, []string{"c.pem", "cluster.peer_tls_key: is required", "cluster.peer_tls_ca: is required"}},
		{"timing and state", `[cluster]
node_id = 1
initial_members = ["1=http://127.0.0.1:7880"]
initial_state = "joining"
election_ms = 150
snapshot_entries = 0`, nil, []string{"initial_state", "election_ms", "snapshot_entries"}},
		{"env", "", []string{"AMATERS_CLUSTER_NODE_ID=x", "AMATERS_CLUSTER_NOPE=1"}, []string{"$AMATERS_CLUSTER_NODE_ID: cluster.node_id", "$AMATERS_CLUSTER_NOPE: cluster.nope: unknown key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(write(t, tc.text), tc.env)
			if err == nil {
				err = c.Validate()
			}
			ps := srvconfig.Problems(err)
			if len(ps) != len(tc.want) {
				t.Fatalf("problems %v, want %d like %q", ps, len(tc.want), tc.want)
			}
			all := ""
			for _, p := range ps {
				all += p.Error() + "\n"
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem like %q in:\n%s", w, all)
				}
			}
		})
	}
}

// FuzzLoad: any file loads or fails with problems, never panics, and a
// config that loads validates or fails with problems.
func FuzzLoad(f *testing.F) {
	f.Add(good)
	f.Add("[cluster]\nnode_id = -1\ninitial_members = [1, 2]\n")
	f.Add("cluster = 3")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "f.toml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p, nil)
		for _, e := range srvconfig.Problems(err) {
			if _, ok := e.(*srvconfig.Error); !ok {
				t.Fatalf("problem of type %T: %v", e, e)
			}
		}
		if err == nil {
			for _, e := range srvconfig.Problems(c.Validate()) {
				if _, ok := e.(*srvconfig.Error); !ok {
					t.Fatalf("problem of type %T: %v", e, e)
				}
			}
		}
	})
}

// TestShowRoundTrip: the shown section loads back to the same values,
// and the precedence is file < environment < flags.
func TestShowRoundTrip(t *testing.T) {
	c, err := config.Load(write(t, good), []string{"AMATERS_CLUSTER_SNAPSHOT_ENTRIES=7", "AMATERS_CLUSTER_HEARTBEAT_MS=50"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set("heartbeat_ms", "25", "flag --heartbeat-ms"); err != nil {
		t.Fatal(err)
	}
	if c.SnapshotEntries != 7 || c.HeartbeatMs != 25 {
		t.Fatalf("precedence: %+v", c)
	}
	shown := c.MarshalTOML()
	again, err := config.Load(write(t, string(shown)), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, shown)
	}
	if string(again.MarshalTOML()) != string(shown) {
		t.Fatalf("round trip:\n%s\n%s", shown, again.MarshalTOML())
	}
	if err := again.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSection: through server/config.LoadWith, the [cluster] section
// loads as with Load (file, then variables, lines in problems), and the
// other sections keep the server's strictness.
func TestSection(t *testing.T) {
	p := write(t, good+"peer_tls_ca = \"ca.pem\"\n")
	c := config.Default()
	sc, err := srvconfig.LoadWith(p, []string{"AMATERS_CLUSTER_ELECTION_MS=2000"}, srvconfig.Overrides{},
		srvconfig.Options{Sections: []srvconfig.Section{config.Section(&c)}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := config.Load(p, []string{"AMATERS_CLUSTER_ELECTION_MS=2000"})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.MarshalTOML()) != string(want.MarshalTOML()) || c.PeerTLSCA != filepath.Join(filepath.Dir(p), "ca.pem") ||
		c.ElectionMs != 2000 || !strings.HasSuffix(sc.Server.DataDir, "d1") {
		t.Fatalf("LoadWith: %+v, data_dir %s; Load: %+v", c, sc.Server.DataDir, want)
	}
	p = write(t, "[server]\ndata_dirr = \"x\"\n[cluster]\nnode_id = 1\nnode_idd = 2\n")
	c = config.Default()
	_, err = srvconfig.LoadWith(p, []string{"AMATERS_CLUSTER_NOPE=1"}, srvconfig.Overrides{},
		srvconfig.Options{Sections: []srvconfig.Section{config.Section(&c)}})
	got := fmt.Sprint(srvconfig.Problems(err))
	for _, w := range []string{"amaters.toml:2: server.data_dirr", "amaters.toml:5: cluster.node_idd: unknown key", "$AMATERS_CLUSTER_NOPE: cluster.nope: unknown key"} {
		if !strings.Contains(got, w) {
			t.Errorf("problems %s: want %q", got, w)
		}
	}
}
