package config_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"amaters-server/server/config"
)

// clusterSection is a [cluster] section read the way the cluster edition
// reads it: keys of the file, then AMATERS_CLUSTER_* variables, every
// problem a *config.Error with its position.
type clusterSection struct {
	NodeID   int64
	Members  []string
	CertFile string
	calls    int
	got      config.SectionInput
}

func (cs *clusterSection) load(in config.SectionInput) []error {
	cs.calls++
	cs.got = in
	var errs []error
	for _, k := range sortedKeys(in.Table) {
		switch v := in.Table[k]; k {
		case "node_id":
			n, ok := v.(int64)
			if !ok {
				errs = append(errs, &config.Error{Where: in.Where(k), Key: "cluster." + k, Message: "must be an integer"})
				continue
			}
			cs.NodeID = n
		case "initial_members":
			for _, m := range v.([]any) {
				cs.Members = append(cs.Members, m.(string))
			}
		case "peer_tls_cert":
			cs.CertFile = filepath.Join(in.Dir, v.(string))
		default:
			errs = append(errs, &config.Error{Where: in.Where(k), Key: "cluster." + k, Message: "unknown key"})
		}
	}
	for _, name := range sortedKeys(in.Env) {
		if name == "AMATERS_CLUSTER_NODE_ID" {
			fmt.Sscan(in.Env[name], &cs.NodeID)
			continue
		}
		errs = append(errs, &config.Error{Where: "$" + name, Key: "cluster", Message: "unknown variable"})
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

const clusterFile = `[server]
data_dir = "d"

[cluster]
node_id = 2
initial_members = ["1=http://a:7880", "2=http://b:7880"]
peer_tls_cert = "peer.pem"
`

// TestSections: a declared section reaches its Load with its table, the
// positions of its keys, the file's folder and its variables; the rest
// of the file is read as always.
func TestSections(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.toml", clusterFile)
	var cs clusterSection
	opts := config.Options{Sections: []config.Section{{Name: "cluster", Load: cs.load}}}
	cfg, err := config.LoadWith(path, []string{"AMATERS_CLUSTER_NODE_ID=3", "AMATERS_LOG_LEVEL=debug"}, config.Overrides{}, opts)
	if err != nil {
		t.Fatalf("LoadWith: %v", err)
	}
	if cs.calls != 1 || cs.NodeID != 3 || !reflect.DeepEqual(cs.Members, []string{"1=http://a:7880", "2=http://b:7880"}) || cs.CertFile != filepath.Join(dir, "peer.pem") {
		t.Fatalf("section read as %+v", cs)
	}
	if cs.got.File != path || cs.got.Where("initial_members") != path+":6" || cs.got.Where("nope") != path {
		t.Errorf("input: file %q, where %q / %q", cs.got.File, cs.got.Where("initial_members"), cs.got.Where("nope"))
	}
	if cfg.Server.DataDir != filepath.Join(dir, "d") || cfg.Server.LogLevel != "debug" {
		t.Errorf("the server's sections: %+v", cfg.Server)
	}

	// Without a file or a section, Load is still called, with nothing.
	cs = clusterSection{}
	if _, err := config.LoadWith("", nil, config.Overrides{}, opts); err != nil || cs.calls != 1 || cs.got.Table != nil || len(cs.got.Env) != 0 {
		t.Fatalf("no file: %v, %+v", err, cs)
	}

	// Problems of both, each with its place; a nil Load accepts the
	// section as it is.
	path = writeFile(t, dir, "bad.toml", "[cluster]\nnode_id = \"two\"\nbogus = 1\n\n[server]\nbind_adress = \"x\"\n")
	cs = clusterSection{}
	_, err = config.LoadWith(path, []string{"AMATERS_CLUSTER_NODEID=1"}, config.Overrides{}, opts)
	got := problems(err)
	want := []string{
		path + ":6: server.bind_adress: unknown key \"bind_adress\" (did you mean \"bind_address\"?)",
		path + ":3: cluster.bogus: unknown key",
		path + ":2: cluster.node_id: must be an integer",
		"$AMATERS_CLUSTER_NODEID: cluster: unknown variable",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if _, err := config.LoadWith(path, nil, config.Overrides{}, config.Options{Sections: []config.Section{{Name: "cluster"}}}); len(problems(err)) != 1 {
		t.Errorf("nil Load: %v", err)
	}
	// Not a table.
	path = writeFile(t, dir, "arr.toml", "cluster = 1\n")
	_, err = config.LoadWith(path, nil, config.Overrides{}, opts)
	wantProblem(t, problems(err), path+":1: cluster: \"cluster\" must be a table")
}

// TestClusterSectionRefused: the single-node server refuses a [cluster]
// section and AMATERS_CLUSTER_* variables, saying which program takes
// them.
func TestClusterSectionRefused(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.toml", clusterFile)
	_, err := config.Load(path, []string{"AMATERS_CLUSTER_NODE_ID=3"}, config.Overrides{})
	got := problems(err)
	wantProblem(t, got, path+":4: cluster: the [cluster] section is for amaters-server-cluster")
	wantProblem(t, got, "$AMATERS_CLUSTER_NODE_ID: cluster: the [cluster] section is for amaters-server-cluster")
	if len(got) != 2 {
		t.Errorf("problems: %q", got)
	}
}

func TestSectionDeclarationsChecked(t *testing.T) {
	for _, name := range []string{"", "Cluster", "server", "my_ext"} {
		if _, err := config.LoadWith("", nil, config.Overrides{}, config.Options{Sections: []config.Section{{Name: name}}}); err == nil {
			t.Errorf("section %q accepted", name)
		}
	}
	twice := []config.Section{{Name: "x"}, {Name: "x"}}
	if _, err := config.LoadWith("", nil, config.Overrides{}, config.Options{Sections: twice}); err == nil {
		t.Error("a section declared twice accepted")
	}
}
