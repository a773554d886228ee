package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cliIn runs the binary with stdin and returns its exit code and output.
func cliIn(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return 0, o.String(), e.String()
}

// TestDataCommands: get, put, delete, range and collections against a
// real server, black-box: output, binary safety, guards, exit codes.
func TestDataCommands(t *testing.T) {
	d := startDaemon(t)
	addr := "--addr=" + d.api
	run := func(stdin []byte, args ...string) (int, string, string) {
		t.Helper()
		return cliIn(t, stdin, append([]string{args[0], addr}, args[1:]...)...)
	}
	want := func(gotCode int, gotOut, gotErr string, code int, out, errPart string) {
		t.Helper()
		if gotCode != code || gotOut != out || !strings.Contains(gotErr, errPart) {
			t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q", gotCode, gotOut, gotErr, code, out, errPart)
		}
	}

	code, out, errOut := run(nil, "put", "c", "k", "v1")
	want(code, out, errOut, 0, "OK revision 1\n", "")
	// Flags before, between and after the arguments.
	code, out, errOut = run(nil, "put", "--if-match", "1", "c", "k", "v2", "--format", "json")
	want(code, out, errOut, 0, "{\"mod_revision\":2}\n", "")
	code, out, errOut = run(nil, "put", "c", "k", "v3", "--if-match", "1")
	want(code, out, errOut, 1, "", "precondition failed: c/k is at revision 2")
	code, out, errOut = run(nil, "put", "c", "k", "v3", "--if-absent")
	want(code, out, errOut, 1, "", "precondition failed: c/k is at revision 2")
	code, out, errOut = run(nil, "get", "c", "k")
	want(code, out, errOut, 0, "v2", "")

	// Binary values through stdin, out byte for byte.
	bin := []byte{0, 1, 2, '\n', 0xff, '\t'}
	code, out, errOut = run(bin, "put", "c", "bin", "-")
	want(code, out, errOut, 0, "OK revision 3\n", "")
	code, out, errOut = run(nil, "get", "c", "bin")
	want(code, out, errOut, 0, string(bin), "")
	// A value starting with "-" after "--".
	code, out, errOut = run(nil, "put", "c", "neg", "--", "-5")
	want(code, out, errOut, 0, "OK revision 4\n", "")

	code, out, _ = run(nil, "get", "c", "k", "--format", "json")
	var item struct {
		Key, Value  []byte
		ModRevision uint64 `json:"mod_revision"`
		Revision    uint64
	}
	if code != 0 || json.Unmarshal([]byte(out), &item) != nil || string(item.Key) != "k" || string(item.Value) != "v2" || item.ModRevision != 2 || item.Revision < 2 {
		t.Fatalf("get --format json: %d %q", code, out)
	}

	code, out, errOut = run(nil, "put", "c", "tmp", "x", "--ttl", "3600")
	want(code, out, errOut, 0, "OK revision 5\n", "")
	code, out, _ = run(nil, "range", "c", "--format", "json", "--prefix", "tm")
	if code != 0 || !strings.Contains(out, `"expires_at":"`) || strings.Count(out, "\n") != 1 {
		t.Fatalf("range --format json: %d %q", code, out)
	}
	code, out, errOut = run(nil, "range", "c", "--start", "k", "--end", "tmp")
	want(code, out, errOut, 0, "k\tv2\nneg\t-5\n", "")
	code, out, errOut = run(nil, "range", "c", "--limit", "1")
	want(code, out, errOut, 0, "bin\t"+string(bin)+"\n", "")

	run(nil, "put", "other", "x", "y")
	code, out, errOut = run(nil, "collections")
	want(code, out, errOut, 0, "c\nother\n", "")

	code, out, errOut = run(nil, "delete", "c", "k", "--if-match", "1")
	want(code, out, errOut, 1, "", "precondition failed: c/k is at revision 2")
	code, out, errOut = run(nil, "delete", "c", "k", "--if-match", "2")
	want(code, out, errOut, 0, "OK revision 7\n", "")
	code, out, errOut = run(nil, "delete", "c", "k")
	want(code, out, errOut, 0, "OK revision 7\n", "") // absent: nothing changes
	code, out, errOut = run(nil, "get", "c", "k")
	want(code, out, errOut, 1, "", "amaters-server get: c/k: not found")

	// Usage errors: exit 2, nothing sent.
	for _, args := range [][]string{
		{"get", "c"}, {"get", "c", "k", "extra"}, {"put", "c"}, {"get", "c", "k", "--format", "xml"},
		{"put", "c", "k", "v", "--if-match", "x"}, {"put", "c", "k", "v", "--if-match", "3", "--if-absent"},
		{"put", "c", "k", "v", "--ttl", "-1"}, {"range", "c", "--prefix", "a", "--start", "b"}, {"collections", "x"},
		{"delete", "c", "k", "--nope"},
	} {
		if code, _, errOut := run(nil, args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
	// A server that is not there: exit 1.
	if code, _, errOut := cliIn(t, nil, "get", "c", "k", "--addr", "127.0.0.1:1"); code != 1 || errOut == "" {
		t.Errorf("get from no server: exit %d %q", code, errOut)
	}
}
