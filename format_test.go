package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// backup and restore answer --format json: the result, or a JSON error
// object on stdout with exit 1.
func TestBackupAndRestoreFormatJSON(t *testing.T) {
	dir := t.TempDir()
	down := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	code, out, _ := cli(t, nil, "backup", "--addr", down, "--out", filepath.Join(dir, "x.tar"), "--format", "json")
	var e struct {
		Error struct{ Code, Message string }
	}
	if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code != "not_running" {
		t.Fatalf("backup of a stopped server: %d %q", code, out)
	}
	code, out, _ = cli(t, nil, "restore", "--from", filepath.Join(dir, "absent.tar"), "--data-dir", filepath.Join(dir, "r"), "--format", "json")
	if code != 1 || json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e.Error.Message, "nothing restored") {
		t.Fatalf("restore of a missing file: %d %q", code, out)
	}

	d := startDaemon(t)
	tar := filepath.Join(dir, "b.tar")
	code, out, errOut := cli(t, nil, "backup", "--addr", d.api, "--out", tar, "--format", "json")
	var b struct {
		Out   string
		Files int
		Bytes int64
	}
	if code != 0 || json.Unmarshal([]byte(out), &b) != nil || b.Out != tar || b.Bytes == 0 {
		t.Fatalf("backup --format json: %d %q %s", code, out, errOut)
	}
	code, out, errOut = cli(t, nil, "restore", "--from", tar, "--data-dir", filepath.Join(dir, "r"), "--format", "json")
	var r struct {
		DataDir string `json:"data_dir"`
		Next    string
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.DataDir != filepath.Join(dir, "r") || !strings.Contains(r.Next, "--config") {
		t.Fatalf("restore --format json: %d %q %s", code, out, errOut)
	}
}
