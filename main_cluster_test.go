package main

import (
	"strings"
	"testing"
)

// TestClusterSectionRefused: amaters-server refuses a configuration
// written for a cluster member, with its line, instead of quietly
// starting a single node; start refuses it before binding anything.
func TestClusterSectionRefused(t *testing.T) {
	path := writeConfig(t, "[server]\nlog_level = \"info\"\n\n[cluster]\nnode_id = 1\n")
	code, out, _ := cli(t, nil, "validate-config", "--config", path)
	want := path + ":4: cluster: the [cluster] section is for amaters-server-cluster"
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("validate-config: exit %d\n%s\nwant a line containing %q", code, out, want)
	}
	code, out, _ = cli(t, []string{"AMATERS_CLUSTER_NODE_ID=1"}, "validate-config")
	if code != 1 || !strings.Contains(out, "$AMATERS_CLUSTER_NODE_ID: cluster: the [cluster] section is for amaters-server-cluster") {
		t.Fatalf("validate-config with AMATERS_CLUSTER_NODE_ID: exit %d\n%s", code, out)
	}
	code, _, errOut := cli(t, nil, "start", "--config", path, "--data-dir", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "amaters-server-cluster") {
		t.Fatalf("start: exit %d\n%s", code, errOut)
	}
}
