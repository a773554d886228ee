package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestValidateConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(`[server]
data_dir = "d"
[cluster]
node_id = 1
initial_members = ["1=http://127.0.0.1:7880"]
`), 0o600)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(`[server]
log_level = "loud"
[cluster]
initial_members = ["1=http://127.0.0.1:7880"]
`), 0o600)
	memory := filepath.Join(dir, "memory.toml")
	os.WriteFile(memory, []byte(`[storage]
engine = "memory"
[cluster]
node_id = 1
initial_members = ["1=http://127.0.0.1:7880"]
`), 0o600)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"validate-config", "--config", memory}, nil, &out, &errb); code != 1 ||
		!strings.Contains(out.String(), "memory.toml:2: storage.engine") {
		t.Fatalf("memory engine: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"validate-config", "--config", good}, nil, &out, &errb); code != 0 || out.String() != "configuration OK\n" {
		t.Fatalf("good: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"validate-config", "--config", good, "--show"}, nil, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "[server]\n") || !strings.Contains(out.String(), "\n[cluster]\nnode_id = 1\n") {
		t.Fatalf("--show: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"validate-config", "--config", bad}, nil, &out, &errb); code != 1 ||
		!strings.Contains(out.String(), "server.log_level") || !strings.Contains(out.String(), "cluster.node_id: is required") {
		t.Fatalf("bad: %d %q", code, out.String())
	}
}
