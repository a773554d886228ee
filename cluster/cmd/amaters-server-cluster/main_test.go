package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a bytes.Buffer safe for a writer and a reader at once.
type syncBuf struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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

// TestThreeMembers starts three members through run, as three processes
// would, waits until all three log the same leader, then stops them.
func TestThreeMembers(t *testing.T) {
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	var members []string
	for i, a := range addrs {
		members = append(members, fmt.Sprintf("%d=http://%s", i+1, a))
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	logs := make([]*syncBuf, 3)
	codes := make([]int, 3)
	for i := range 3 {
		logs[i] = &syncBuf{}
		args := []string{"start", "--data-dir", t.TempDir(), "--node-id", fmt.Sprint(i + 1), "--peer-address", addrs[i],
			"--initial-members", strings.Join(members, ",")}
		wg.Go(func() { codes[i] = run(ctx, args, nil, &bytes.Buffer{}, logs[i]) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var leaders []string
		for _, l := range logs {
			if i := strings.LastIndex(l.String(), "msg=leader leader="); i >= 0 {
				leaders = append(leaders, strings.Fields(l.String()[i:])[1])
			}
		}
		if len(leaders) == 3 && leaders[0] == leaders[1] && leaders[1] == leaders[2] && leaders[0] != "leader=0" {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("no common leader:\n%s\n%s\n%s", logs[0], logs[1], logs[2])
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for i, c := range codes {
		if c != 0 || !strings.Contains(logs[i].String(), "does not serve the HTTP API yet") {
			t.Fatalf("member %d exited %d:\n%s", i+1, c, logs[i])
		}
	}
}
